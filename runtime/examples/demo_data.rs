//! Write the demo dataset: `cargo run -p sam3c-runtime --release --example demo_data -- DIR [SEED]`.
fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let dir = args
        .next()
        .ok_or_else(|| anyhow::anyhow!("usage: demo_data DIR [SEED]"))?;
    let seed: u64 = args.next().map(|s| s.parse()).transpose()?.unwrap_or(0);
    let start = std::time::Instant::now();
    let summary = sam3c_runtime::demo::generate(std::path::Path::new(&dir), seed)?;
    println!("{summary:#?}");
    println!("generated in {:.2?}", start.elapsed());
    Ok(())
}
