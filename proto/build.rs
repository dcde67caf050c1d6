//! Generates the lwm2m.v1 messages and the DeviceService client/server with tonic-prost-build,
//! using a vendored protoc so that a build needs no system protoc.
fn main() -> Result<(), Box<dyn std::error::Error>> {
    let protoc = protoc_bin_vendored::protoc_bin_path()?;
    std::env::set_var("PROTOC", protoc);
    let out = std::path::PathBuf::from(std::env::var("OUT_DIR")?);
    let files = [
        "lwm2m/v1/model.proto",
        "lwm2m/v1/observe.proto",
        "lwm2m/v1/device.proto",
        "lwm2m/v1/bus.proto",
        "lwm2m/v1/security.proto",
    ];
    tonic_prost_build::configure()
        .file_descriptor_set_path(out.join("lwm2m_descriptor.bin"))
        .compile_protos(&files, &["."])?;
    for f in files {
        println!("cargo:rerun-if-changed={f}");
    }
    Ok(())
}
