fn main() {
    let path = std::env::args().nth(1).unwrap();
    let text = std::fs::read_to_string(path).unwrap();
    match sam3c_lang::format(&text) {
        Ok(s) => print!("{s}"),
        Err(e) => println!("ERRORS {e:?}"),
    }
}
