//! COCO / YTVIS parsing: the accepted forms, and errors that point at the bad value.

use sam3c_formats::{
    locate, parse_coco, parse_coco_results, parse_ytvis, parse_ytvis_results, PathSeg, Rle,
    RleCounts, Segmentation,
};

const COCO: &str = r#"{
  "info": {"year": 2026},
  "images": [{"id": 1, "file_name": "a.jpg", "width": 4, "height": 3}, {"id": 2, "file_name": "b.jpg"}],
  "annotations": [
    {"id": 10, "image_id": 1, "category_id": 5, "bbox": [0, 0, 2, 2], "area": 4, "iscrowd": 0,
     "segmentation": [[0, 0, 2, 0, 2, 2, 0, 2]]},
    {"id": 11, "image_id": 1, "category_id": 5, "iscrowd": true,
     "segmentation": {"size": [3, 4], "counts": [0, 3, 9]}},
    {"image_id": 2, "category_id": 5, "bbox": [], "segmentation": {"size": [3, 4], "counts": "0;4"}}
  ],
  "categories": [{"id": 5, "name": "cat"}]
}"#;

#[test]
fn coco_fields_and_optional_fields() {
    let d = parse_coco(COCO).unwrap();
    assert_eq!(d.images.len(), 2);
    assert_eq!((d.images[0].width, d.images[1].height), (Some(4), None));
    let a = &d.annotations;
    assert_eq!(
        (a[0].id, a[0].bbox, a[0].area, a[0].iscrowd),
        (Some(10), Some([0.0, 0.0, 2.0, 2.0]), Some(4.0), Some(0))
    );
    assert_eq!(a[1].iscrowd, Some(1), "iscrowd: true reads as 1");
    assert_eq!(
        (a[2].id, a[2].bbox, a[2].area, a[2].iscrowd),
        (None, None, None, None),
        "bbox [] reads as no box"
    );
    assert!(
        matches!(&a[1].segmentation, Some(Segmentation::Rle { size: [3, 4], counts: RleCounts::Uncompressed(c) }) if c == &vec![0, 3, 9])
    );
    assert!(
        matches!(&a[2].segmentation, Some(Segmentation::Rle { counts: RleCounts::Compressed(s), .. }) if s == "0;4")
    );
    assert_eq!(d.categories[0].supercategory, None);
    // the polygon covers the 2x2 top-left square of the 3x4 image
    let mask = a[0].segmentation.as_ref().unwrap().to_rle(3, 4).unwrap();
    assert_eq!(mask.area(), 4);
    assert_eq!(mask.bbox(), [0.0, 0.0, 2.0, 2.0]);
    // uncompressed and compressed RLE give the same mask type; a wrong total is an error
    assert_eq!(
        a[1].segmentation.as_ref().unwrap().to_rle(0, 0).unwrap(),
        Rle {
            height: 3,
            width: 4,
            counts: vec![0, 3, 9]
        }
    );
    let bad = Segmentation::Rle {
        size: [3, 4],
        counts: RleCounts::Uncompressed(vec![0, 3]),
    };
    assert!(bad
        .to_rle(3, 4)
        .unwrap_err()
        .message
        .contains("cover 3 pixels"));
    // serialization writes the same forms back
    let again = parse_coco(&serde_json::to_string(&d).unwrap()).unwrap();
    assert_eq!(again, d);
}

#[test]
fn errors_carry_line_column_offset_path_and_span() {
    let text = "{\"images\": [{\"id\": 1, \"file_name\": \"a.jpg\"}],\n \"annotations\": [\n  {\"image_id\": 1, \"category_id\": 2, \"bbox\": [1, 2, 3]}\n]}";
    let e = parse_coco(text).unwrap_err();
    assert_eq!(e.path.as_deref(), Some("annotations[0].bbox"));
    assert!(e.message.contains("4 numbers"), "{}", e.message);
    let loc = e.location.unwrap();
    assert_eq!(loc.line, 3);
    assert_eq!(&text[e.span.clone().unwrap()], "[1, 2, 3]");
    assert_eq!(
        text[..loc.offset].matches('\n').count(),
        2,
        "offset is on line 3"
    );
    assert!(e.to_string().starts_with("line 3, column "), "{e}");

    let e = parse_coco("{\"images\": [{\"id\": \"one\", \"file_name\": \"a\"}]}").unwrap_err();
    assert_eq!(e.path.as_deref(), Some("images[0].id"));
    let e = parse_coco("{\"images\": [}").unwrap_err();
    assert_eq!((e.line(), e.column().is_some()), (Some(1), true));
    let e = parse_coco("{\"annotations\": []}").unwrap_err();
    assert!(e.message.contains("images"), "{}", e.message);
    let e = parse_coco_results("[{\"image_id\": 1, \"category_id\": 1, \"segmentation\": {\"size\": [2, 2]}, \"score\": 1}]").unwrap_err();
    assert!(e.message.contains("counts"), "{}", e.message);
}

#[test]
fn results_and_ytvis() {
    let r = parse_coco_results(r#"[{"image_id": 3, "category_id": 1, "bbox": [1.5, 2, 3, 4], "score": 0.25, "area": 0.1}]"#).unwrap();
    assert_eq!(
        (
            r[0].image_id,
            r[0].bbox,
            r[0].score,
            r[0].segmentation.is_none()
        ),
        (3, Some([1.5, 2.0, 3.0, 4.0]), 0.25, true)
    );
    let y = parse_ytvis(
        r#"{"videos": [{"id": 1, "file_names": ["v/0.jpg", "v/1.jpg"], "width": 2, "height": 2, "length": 2}],
            "annotations": [{"id": 1, "video_id": 1, "category_id": 1, "iscrowd": 0,
                             "segmentations": [null, {"size": [2, 2], "counts": [1, 3]}],
                             "bboxes": [null, [0, 0, 2, 2]], "areas": [null, 3]}],
            "categories": [{"id": 1, "name": "x"}]}"#,
    )
    .unwrap();
    let a = &y.annotations[0];
    assert_eq!(a.segmentations.len(), 2);
    assert!(a.segmentations[0].is_none());
    assert_eq!(a.bboxes.as_ref().unwrap()[1], Some([0.0, 0.0, 2.0, 2.0]));
    assert_eq!(a.areas.as_ref().unwrap()[1], Some(3.0));
    let p = parse_ytvis_results(r#"[{"video_id": 1, "category_id": 1, "score": 0.9, "segmentations": [null, null], "bboxes": [[], null]}]"#).unwrap();
    assert_eq!(p[0].bboxes.as_ref().unwrap(), &vec![None, None]);
    let e = parse_ytvis(r#"{"videos": [{"id": 1, "file_names": []}], "annotations": [{"video_id": 1, "category_id": 1, "segmentations": [7]}]}"#).unwrap_err();
    assert_eq!(e.path.as_deref(), Some("annotations[0].segmentations[0]"));
}

#[test]
fn locate_finds_values_in_a_real_file() {
    let r = locate(
        COCO,
        &[
            PathSeg::Key("annotations"),
            PathSeg::Index(1),
            PathSeg::Key("segmentation"),
            PathSeg::Key("counts"),
        ],
    )
    .unwrap();
    assert_eq!(&COCO[r], "[0, 3, 9]");
    let r = locate(
        COCO,
        &[
            PathSeg::Key("images"),
            PathSeg::Index(1),
            PathSeg::Key("file_name"),
        ],
    )
    .unwrap();
    assert_eq!(&COCO[r], "\"b.jpg\"");
}
