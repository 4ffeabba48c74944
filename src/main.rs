fn main() {
    println!("sam3c");
}
