fn main() {
    let path = std::env::args().nth(1).unwrap();
    let text = std::fs::read_to_string(path).unwrap();
    let f = sam3c_lang::parse(&text);
    print!("{}", sam3c_lang::dump(&f));
    for e in &f.errors {
        println!(
            "ERROR {:?} {:?}: {}  help={:?}",
            e.kind,
            &text[e.span.range()],
            e.message,
            e.help
        );
    }
    println!(
        "comments: {:?}",
        f.comments.iter().map(|c| &c.text).collect::<Vec<_>>()
    );
}
