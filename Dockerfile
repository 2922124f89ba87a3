# syntax=docker/dockerfile:1
# pressure-probe container image: build with `docker build -t pressure-probe .`
#
# Build stage: the kernel programs need nightly Rust (rust-src) and
# bpf-linker built against nightly's LLVM; `cargo xtask build` installs both.
FROM rust:1.95-bookworm AS build
RUN rustup toolchain install nightly --profile minimal --component rust-src
WORKDIR /src
COPY . .
RUN cargo xtask build --release

# Runtime stage: the agent alone (it embeds its kernel object) on a
# distroless base with glibc.
# The :nonroot variant is the same image with a default user, which USER below overrides.
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /src/target/release/pressure-probe /usr/bin/pressure-probe
# checkov:skip=CKV_DOCKER_8: the probe needs uid 0 for its capabilities (CAP_BPF, CAP_PERFMON, CAP_DAC_READ_SEARCH, CAP_SYS_PTRACE); the DaemonSet drops every other one
USER 0
EXPOSE 9635
# checkov:skip=CKV_DOCKER_2: Kubernetes probes /healthz (see deploy/kubernetes/daemonset.yaml); the distroless image has no HTTP client for a HEALTHCHECK
ENTRYPOINT ["/usr/bin/pressure-probe"]
CMD ["run", "--listen=0.0.0.0:9635"]
