//! Parity of the shared building blocks (runtime/src/model/common.rs) with their upstream counterparts:
//! `nn.MultiheadAttention` in its three input-projection paths, sam3's `MLP`, the sine position encodings
//! and 2D axial RoPE. Live oracle: tests/oracle/sam3_image_oracle.py.

mod common;

use common::{assert_close, cpu_var_store, shared_fixture};
use sam3c_runtime::model::common::{
    gen_sineembed_for_position, AxialRope, Mlp, MultiheadAttention, PositionEmbeddingSine,
};
use tch::{Kind, Tensor};

const ORACLE: &str = "sam3_image_oracle.py";

fn backward(fx: &common::Fixture, outputs: &[&Tensor]) {
    let mut total = Tensor::zeros([], (Kind::Float, tch::Device::Cpu));
    for (i, y) in outputs.iter().enumerate() {
        total = total + (*y * fx.get(&format!("input.upstream{i}"))).sum(Kind::Float);
    }
    total.backward();
}

#[test]
fn multihead_attention_matches_torch_in_all_projection_paths() {
    let Some(fx) = shared_fixture(ORACLE, "mha") else {
        return;
    };
    let vs = cpu_var_store();
    let root = vs.root();
    let self_bf = MultiheadAttention::new(&root / "self_bf", 16, 4, 0.0, true);
    let cross = MultiheadAttention::new(&root / "cross", 16, 4, 0.0, false);
    let qk_attn = MultiheadAttention::new(&root / "qk", 16, 4, 0.0, false);
    fx.load_weights(&vs);

    let x = fx.get("input.x");
    let kpm = fx.get("input.kpm").to_kind(Kind::Bool);
    let y1 = self_bf.forward(&x, &x, &x, Some(&kpm), None, true);
    let kv = fx.get("input.kv");
    let kpm2 = fx.get("input.kpm2").to_kind(Kind::Bool);
    let y2 = cross.forward(
        &fx.get("input.q"),
        &kv,
        &kv,
        Some(&kpm2),
        Some(&fx.get("input.am")),
        true,
    );
    let qk = fx.get("input.qk");
    let y3 = qk_attn.forward(
        &qk,
        &qk,
        &fx.get("input.v"),
        None,
        Some(&fx.get("input.causal")),
        true,
    );
    assert_close("self_bf", &y1, &fx.get("output.self_bf"), 1e-6);
    assert_close("cross", &y2, &fx.get("output.cross"), 1e-6);
    assert_close("qk", &y3, &fx.get("output.qk"), 1e-6);
    backward(&fx, &[&y1, &y2, &y3]);
    fx.check_grads(&vs, 1e-5);
}

#[test]
fn mlp_plain_and_residual_match_sam3() {
    let Some(fx) = shared_fixture(ORACLE, "mlp") else {
        return;
    };
    let vs = cpu_var_store();
    let plain = Mlp::new(&vs.root() / "plain", 6, 12, 4, 3);
    let residual = Mlp::with_residual_norm(&vs.root() / "residual", 8, 20, 8, 2, 0.1);
    fx.load_weights(&vs);
    let y1 = plain.forward(&fx.get("input.x1"), false);
    let y2 = residual.forward(&fx.get("input.x2"), false);
    assert_close("plain", &y1, &fx.get("output.plain"), 1e-6);
    assert_close("residual", &y2, &fx.get("output.residual"), 1e-6);
    backward(&fx, &[&y1, &y2]);
    fx.check_grads(&vs, 1e-5);
}

#[test]
fn sine_position_encodings_match_sam3() {
    let Some(fx) = shared_fixture(ORACLE, "position_encoding") else {
        return;
    };
    let pe = PositionEmbeddingSine::new(32);
    let map = pe.forward(2, 5, 7, tch::Device::Cpu);
    assert_close("map", &map, &fx.get("output.map"), 1e-6);
    let b = fx.get("input.boxes");
    let boxes = pe.encode_boxes(
        &b.select(1, 0),
        &b.select(1, 1),
        &b.select(1, 2),
        &b.select(1, 3),
    );
    assert_close("boxes", &boxes, &fx.get("output.boxes"), 1e-6);
    let pts = fx.get("input.points");
    let (ex, ey) = pe.encode_xy(
        &pts.select(-1, 0).flatten(0, -1),
        &pts.select(-1, 1).flatten(0, -1),
    );
    assert_close("points_x", &ex, &fx.get("output.points_x"), 1e-6);
    assert_close("points_y", &ey, &fx.get("output.points_y"), 1e-6);
    let r = fx.get("input.ref");
    assert_close(
        "sine4",
        &gen_sineembed_for_position(&r, 32),
        &fx.get("output.sine4"),
        1e-6,
    );
    let r2 = r.slice(-1, 0, 2, 1);
    assert_close(
        "sine2",
        &gen_sineembed_for_position(&r2, 32),
        &fx.get("output.sine2"),
        1e-6,
    );
}

#[test]
fn axial_rope_matches_upstream_freqs_cis_and_rotation() {
    let Some(fx) = shared_fixture(ORACLE, "rope") else {
        return;
    };
    for (name, dim, side, scale) in [("window", 16, 4, 1.0), ("global", 16, 6, 4.0 / 6.0)] {
        let rope = AxialRope::new(dim, side, side, 10000.0, scale, tch::Device::Cpu);
        assert_close(
            &format!("{name} cos"),
            &rope.cos,
            &fx.get(&format!("output.{name}_cos")),
            1e-6,
        );
        assert_close(
            &format!("{name} sin"),
            &rope.sin,
            &fx.get(&format!("output.{name}_sin")),
            1e-6,
        );
        let q = rope.rotate(&fx.get(&format!("input.{name}_q")));
        let k = rope.rotate(&fx.get(&format!("input.{name}_k")));
        assert_close(
            &format!("{name} q"),
            &q,
            &fx.get(&format!("output.{name}_q")),
            1e-6,
        );
        assert_close(
            &format!("{name} k"),
            &k,
            &fx.get(&format!("output.{name}_k")),
            1e-6,
        );
    }
    let rope = AxialRope::new(8, 3, 2, 10000.0, 1.0, tch::Device::Cpu);
    assert_close(
        "rep q",
        &rope.rotate(&fx.get("input.rep_q")),
        &fx.get("output.rep_q"),
        1e-6,
    );
    assert_close(
        "rep k",
        &rope.rotate(&fx.get("input.rep_k")),
        &fx.get("output.rep_k"),
        1e-6,
    );
}
