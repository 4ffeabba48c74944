//! Box conversions and IoU / generalized IoU, in the same op order as upstream `sam3.model.box_ops`, so that
//! matching costs and box losses agree with it to the last bit where libtorch allows.

use tch::Tensor;

/// `(cx, cy, w, h)` to `(x0, y0, x1, y1)` along the last dimension (the model's conversion, shared).
pub use crate::model::common::box_cxcywh_to_xyxy as cxcywh_to_xyxy;

/// Areas of `(..., 4)` xyxy boxes.
pub fn box_area(boxes: &Tensor) -> Tensor {
    let parts = boxes.unbind(-1);
    (&parts[2] - &parts[0]) * (&parts[3] - &parts[1])
}

/// Pairwise IoU and union of xyxy boxes `(..., N, 4)` and `(..., M, 4)`: two `(..., N, M)` tensors.
pub fn box_iou(boxes1: &Tensor, boxes2: &Tensor) -> (Tensor, Tensor) {
    let area1 = box_area(boxes1);
    let area2 = box_area(boxes2);
    let (b1, b2) = (boxes1.unsqueeze(-2), boxes2.unsqueeze(-3));
    let lt = b1.narrow(-1, 0, 2).maximum(&b2.narrow(-1, 0, 2));
    let rb = b1.narrow(-1, 2, 2).minimum(&b2.narrow(-1, 2, 2));
    let wh = (rb - lt).clamp_min(0.0);
    let inter = wh.select(-1, 0) * wh.select(-1, 1);
    let union = area1.unsqueeze(-1) + area2.unsqueeze(-2) - &inter;
    let iou = inter / &union;
    (iou, union)
}

/// Pairwise generalized IoU of xyxy boxes `(..., N, 4)` and `(..., M, 4)`.
pub fn generalized_box_iou(boxes1: &Tensor, boxes2: &Tensor) -> Tensor {
    let (iou, union) = box_iou(boxes1, boxes2);
    let (b1, b2) = (boxes1.unsqueeze(-2), boxes2.unsqueeze(-3));
    let lt = b1.narrow(-1, 0, 2).minimum(&b2.narrow(-1, 0, 2));
    let rb = b1.narrow(-1, 2, 2).maximum(&b2.narrow(-1, 2, 2));
    let wh = (rb - lt).clamp_min(0.0);
    let area = wh.select(-1, 0) * wh.select(-1, 1);
    iou - (&area - union) / area
}

struct DiagParts {
    area1: Tensor,
    area2: Tensor,
    inter: Tensor,
}

fn diag_parts(boxes1: &Tensor, boxes2: &Tensor) -> DiagParts {
    let (b1_min, b1_max) = (boxes1.narrow(1, 0, 2), boxes1.narrow(1, 2, 2));
    let (b2_min, b2_max) = (boxes2.narrow(1, 0, 2), boxes2.narrow(1, 2, 2));
    let area1 = (&b1_max - &b1_min).prod_dim_int(-1, false, None);
    let area2 = (&b2_max - &b2_min).prod_dim_int(-1, false, None);
    let lt = b1_min.maximum(&b2_min);
    let rb = b1_max.minimum(&b2_max);
    let inter = (rb - lt).clamp_min(0.0).prod_dim_int(-1, false, None);
    DiagParts {
        area1,
        area2,
        inter,
    }
}

/// IoU of matching rows of two `(N, 4)` xyxy tensors.
pub fn diag_box_iou(boxes1: &Tensor, boxes2: &Tensor) -> Tensor {
    let DiagParts {
        area1,
        area2,
        inter,
    } = diag_parts(boxes1, boxes2);
    let union = area1 + area2 - &inter;
    inter / union
}

/// Generalized IoU of matching rows of two `(N, 4)` xyxy tensors.
pub fn diag_generalized_box_iou(boxes1: &Tensor, boxes2: &Tensor) -> Tensor {
    let DiagParts {
        area1,
        area2,
        inter,
    } = diag_parts(boxes1, boxes2);
    let lt = boxes1.narrow(1, 0, 2).minimum(&boxes2.narrow(1, 0, 2));
    let rb = boxes1.narrow(1, 2, 2).maximum(&boxes2.narrow(1, 2, 2));
    let total_area = (rb - lt).clamp_min(0.0).prod_dim_int(-1, false, None);
    let union = area1 + area2 - &inter;
    let iou = inter / &union;
    iou - (&total_area - union) / total_area
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(t: &Tensor) -> Vec<f64> {
        Vec::<f64>::try_from(t.flatten(0, -1).to_kind(tch::Kind::Double)).unwrap()
    }

    #[test]
    fn conversion_iou_and_giou_of_known_boxes() {
        let a = Tensor::from_slice(&[0.5f32, 0.5, 0.4, 0.4]).view([1, 4]);
        let b = Tensor::from_slice(&[0.6f32, 0.5, 0.4, 0.4]).view([1, 4]);
        let (axy, bxy) = (cxcywh_to_xyxy(&a), cxcywh_to_xyxy(&b));
        let got = values(&axy);
        for (g, e) in got.iter().zip([0.3, 0.3, 0.7, 0.7]) {
            assert!((g - e).abs() < 1e-6, "{got:?}");
        }
        // Overlap 0.3 x 0.4 = 0.12, union 0.16 + 0.16 - 0.12 = 0.2, hull 0.5 x 0.4 = 0.2.
        let iou = values(&box_iou(&axy, &bxy).0)[0];
        assert!((iou - 0.6).abs() < 1e-6, "{iou}");
        let giou = values(&generalized_box_iou(&axy, &bxy))[0];
        assert!((giou - 0.6).abs() < 1e-6, "{giou}");
        assert!((values(&diag_box_iou(&axy, &bxy))[0] - 0.6).abs() < 1e-6);
        // Disjoint boxes: IoU 0, GIoU negative.
        let c = cxcywh_to_xyxy(&Tensor::from_slice(&[0.1f32, 0.1, 0.1, 0.1]).view([1, 4]));
        let d = cxcywh_to_xyxy(&Tensor::from_slice(&[0.9f32, 0.9, 0.1, 0.1]).view([1, 4]));
        let giou = values(&diag_generalized_box_iou(&c, &d))[0];
        // Union 0.02, hull 0.9 x 0.9 = 0.81: GIoU = 0 - (0.81 - 0.02) / 0.81.
        assert!((giou + 0.79 / 0.81).abs() < 1e-6, "{giou}");
    }
}
