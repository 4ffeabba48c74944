//! COCO and YTVIS annotation files and RLE / polygon masks, compatible with pycocotools.
