# rudder's container image: a release build of the one binary on a
# distroless runtime (glibc, libssl, CA certificates; no shell), run as the
# unprivileged user 65532.
#   docker build -t rudder:0.1.0 .
# The manifests and the chart run it with a read-only root filesystem and
# the Git cache on an emptyDir (RUDDER_CACHE_DIR=/var/cache/rudder).

FROM rust:1.89-bookworm AS build
WORKDIR /src
COPY . .
# zlib is linked statically (the runtime image has libssl but no libz);
# libssl and glibc come from the runtime image. Cache mounts keep the
# registry and target directory between builds; the binary is copied out
# because the target cache is not part of the layer.
ENV LIBZ_SYS_STATIC=1
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p rudder --bin rudder \
 && cp target/release/rudder /rudder

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /rudder /usr/local/bin/rudder
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/rudder"]
CMD ["run"]
