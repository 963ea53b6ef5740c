//! Build script: gives the shared library a stable soname, and records the build's target and
//! profile for the Version entry.

fn main() {
    let target = std::env::var("TARGET").unwrap_or_default();
    let profile = std::env::var("PROFILE").unwrap_or_default();
    println!("cargo:rustc-env=IRISKAFKA_BUILD_TARGET={target}");
    println!("cargo:rustc-env=IRISKAFKA_BUILD_PROFILE={profile}");
    if target.contains("linux") {
        // IRIS loads the library by path; a fixed soname keeps tools such as ldd and
        // package managers from reporting a build-directory name.
        println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libiriskafka.so");
    }
    println!("cargo:rerun-if-changed=build.rs");
}
