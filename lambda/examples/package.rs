//! Packages a built `bootstrap` into the deployable zip and prints its size and sha256:
//! `cargo run -p reaqtions-lambda --features package --example package -- target/release/bootstrap out.zip`

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [binary, zip_path] = args.as_slice() else {
        eprintln!("usage: package <bootstrap binary> <output zip>");
        return ExitCode::from(2);
    };
    let bytes = match std::fs::read(binary) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("cannot read {binary}: {e}");
            return ExitCode::FAILURE;
        }
    };
    let zip = reaqtions_lambda::package::package_bootstrap(&bytes).expect("zip in memory");
    if let Err(e) = std::fs::write(zip_path, &zip.bytes) {
        eprintln!("cannot write {zip_path}: {e}");
        return ExitCode::FAILURE;
    }
    println!("{zip_path}: {} bytes (binary {} bytes), sha256 {}", zip.bytes.len(), bytes.len(), zip.sha256);
    ExitCode::SUCCESS
}
