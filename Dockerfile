# syntax=docker/dockerfile:1
# pressure-probe's container image, for linux/amd64 and linux/arm64:
#   cargo xtask image --tag <registry>/pressure-probe:<tag> --push
# or, with docker itself:
#   docker buildx build --platform linux/amd64,linux/arm64 \
#     -t <registry>/pressure-probe:<tag> --push .
#
# Build stage: runs on the build machine's platform and cross-compiles the
# agent for the image's (no emulation). The kernel programs are BPF
# bytecode, the same for every architecture; they need nightly Rust
# (rust-src) and bpf-linker built against nightly's LLVM, and the agent of
# another architecture needs Debian's cross GCC: `cargo xtask build`
# installs all of it.
FROM --platform=$BUILDPLATFORM rust:1.95-bookworm AS build
ARG TARGETARCH
RUN rustup toolchain install nightly --profile minimal --component rust-src
WORKDIR /src
COPY . .
RUN case "$TARGETARCH" in \
      amd64) triple=x86_64-unknown-linux-gnu ;; \
      arm64) triple=aarch64-unknown-linux-gnu ;; \
      *) echo "pressure-probe builds for amd64 and arm64, not $TARGETARCH" >&2; exit 1 ;; \
    esac \
    && cargo xtask build --release --target "$triple" \
    && cp "target/$triple/release/pressure-probe" /pressure-probe

# Runtime stage: the agent alone (it embeds its kernel object) on a
# distroless base with glibc, of the image's platform.
# The :nonroot variant is the same image with a default user, which USER below overrides.
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /pressure-probe /usr/bin/pressure-probe
# checkov:skip=CKV_DOCKER_8: the probe runs as uid 0 with only CAP_BPF, CAP_PERFMON, CAP_DAC_READ_SEARCH and CAP_SYS_PTRACE (the DaemonSet drops every other one). Another uid would get those only as file capabilities, which no_new_privs (allowPrivilegeEscalation: false) blocks: a worse trade
USER 0
EXPOSE 9635
# checkov:skip=CKV_DOCKER_2: Kubernetes probes /healthz (see deploy/kubernetes/daemonset.yaml); the distroless image has no HTTP client for a HEALTHCHECK
ENTRYPOINT ["/usr/bin/pressure-probe"]
CMD ["run", "--listen=0.0.0.0:9635"]
