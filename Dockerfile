# One image for every role of the job service: one binary, `jobs`, linked as
# api (default), worker, migrate and pubsub-emulator (local runs only); the name
# it is started by picks the role (jobs/src/main.rs).
# Build: docker build -t jobs .   Run: docker run -p 8080:8080 jobs  |  docker run jobs worker

# Builder and runtime share Debian 12 (bookworm), so the binary links against
# the same glibc that the distroless runtime ships.
FROM rust:1.95.0-bookworm AS chef
# cargo-chef splits "build the dependencies" from "build our code", so a source
# change does not rebuild ~400 crates. Pinned, and --locked to its own lockfile.
RUN cargo install cargo-chef --version 0.1.78 --locked
WORKDIR /app

FROM chef AS planner
COPY . .
# recipe.json lists only what affects dependency builds (manifests, lockfile).
RUN cargo chef prepare --recipe-path recipe.json

FROM chef AS builder
# No query! macros reach a live database at build time; offline also keeps any
# future ones from trying. The release profile (fat LTO, one codegen unit,
# stripped) is in Cargo.toml, so cook and build use the same one.
ENV SQLX_OFFLINE=true
COPY --from=planner /app/recipe.json recipe.json
# This layer is cached until Cargo.toml/Cargo.lock change.
RUN cargo chef cook --release --locked --bin jobs --recipe-path recipe.json
COPY . .
# The multi-call binary and one relative symbolic link per role, named after
# the binary each crate defines (shipping/tests checks the names). COPY keeps
# links inside a copied directory as links, so the image holds one binary.
# libgcc_s.so.1 (unwinding: the worker catches handler panics) is the only
# library the binary needs beyond glibc, and the runtime base has glibc only;
# the awk check fails the build, not the start, if it ever needs another
# (libssl, libstdc++).
RUN cargo build --release --locked --bin jobs \
    && mkdir -p /out/bin "/out/lib/$(gcc -print-multiarch)" \
    && cp target/release/jobs /out/bin/ \
    && ln -s jobs /out/bin/api \
    && ln -s jobs /out/bin/worker \
    && ln -s jobs /out/bin/migrate \
    && ln -s jobs /out/bin/pubsub-emulator \
    && cp "$(gcc -print-file-name=libgcc_s.so.1)" "/out/lib/$(gcc -print-multiarch)/" \
    && readelf -d /out/bin/jobs > /tmp/dynamic-section \
    && awk '/NEEDED/ && !/\[(libgcc_s\.so\.1|libm\.so\.6|libc\.so\.6|ld-linux[^]]*)\]/ \
            { print "jobs needs a library the runtime lacks: " $NF; bad = 1 } END { exit bad }' \
           /tmp/dynamic-section

# glibc, CA certificates and tzdata; no shell, no package manager, no OpenSSL
# (rustls), runs as uid 65532. The cc variant would add libgcc_s plus libssl3
# and libstdc++ that nothing here uses (~8.7 MB; docs/DEPLOY.md).
FROM gcr.io/distroless/base-nossl-debian12:nonroot AS runtime
# /lib/<multiarch>/, where the cc variant's libgcc-s1 package puts it and the
# dynamic loader looks by default.
COPY --from=builder /out/lib/ /lib/
COPY --from=builder /out/bin/ /usr/local/bin/
# Cloud Run sets PORT; HOST/PORT are read by api and worker (defaults shown).
ENV HOST=0.0.0.0 \
    PORT=8080 \
    LOG_FORMAT=json
EXPOSE 8080
# Numeric (distroless "nonroot") so a runtime can verify it is not root.
USER 65532:65532
# No HEALTHCHECK: Cloud Run ignores it and probes /healthz and /readyz itself,
# and the image has no shell or curl to run one with (.checkov.yaml).
CMD ["api"]
