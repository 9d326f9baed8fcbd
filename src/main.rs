//! The single `aerostic` binary; everything lives in `aerostic-launcher`.

fn main() -> std::process::ExitCode {
    aerostic_launcher::main()
}
