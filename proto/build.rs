//! Compiles the contracts with `protox` (pure Rust), so a fresh machine needs only cargo.
use std::path::PathBuf;

const FILES: &[&str] = &[
    "aerostic/v1/common.proto",
    "aerostic/v1/tenancy.proto",
    "aerostic/v1/dispatcher.proto",
    "aerostic/v1/automation.proto",
    "aerostic/v1/billing.proto",
    "aerostic/v1/anomaly.proto",
    "aerostic/v1/events.proto",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Read when run, not baked in when built: another checkout sharing the
    // target directory may reuse this compiled script.
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?);
    let out = PathBuf::from(std::env::var("OUT_DIR")?);
    println!("cargo:rerun-if-changed={}", root.join("aerostic").display());
    let files: Vec<PathBuf> = FILES.iter().map(|f| root.join(f)).collect();
    let fds = protox::compile(&files, [&root])?;
    // The reflection service needs the encoded descriptor set.
    std::fs::write(
        out.join("aerostic_descriptor.bin"),
        prost::Message::encode_to_vec(&fds),
    )?;
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .compile_fds(fds)?;
    Ok(())
}
