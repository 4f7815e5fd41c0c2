# ringmaster's image: built on Debian 12, shipped with OpenMPI and sshd so it serves as every
# replica of a job (TFJob/PyTorchJob replicas, an MPIJob's launcher and its sshd workers), running
# as the non-root user "ringmaster" (uid 1000).
#
#   docker build -t ringmaster:0.1.0 .
#
# The runtime stage installs exactly the Debian packages that own the shared libraries the two
# binaries link (worked out in the build stage with ldd and dpkg -S), plus OpenMPI and OpenSSH,
# plus the two libraries ringmaster opens only when it uses them, which ldd cannot see: oneDNN
# (libdnnl2, the CPU training step) and OpenBLAS (libopenblas0, the bench's reference).
# CUDA: see docs/kubernetes.md (build on an nvidia/cuda devel base; CMake finds nvcc there).
# Not built or run in this repository's CI (no container runtime there); see docs/kubernetes.md.

FROM debian:12 AS build
ARG DEBIAN_FRONTEND=noninteractive
RUN apt-get update && apt-get install -y --no-install-recommends \
      build-essential cmake ninja-build pkg-config git ca-certificates \
      libyaml-cpp-dev libyaml-dev libspdlog-dev libfmt-dev libcli11-dev nlohmann-json3-dev \
      libgrpc++-dev libprotobuf-dev protobuf-compiler protobuf-compiler-grpc \
      libopenmpi-dev openmpi-bin libopenblas-dev libdnnl-dev zlib1g-dev libeigen3-dev \
      libgtest-dev libgmock-dev libbenchmark-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release \
    && cmake --build build --target ringmaster ringmaster-ps \
    && for lib in $(ldd build/ringmaster build/ringmaster-ps | awk '/=> \//{print $3}' | sort -u); do \
         dpkg -S "$lib" 2>/dev/null || dpkg -S "/usr$lib" 2>/dev/null || true; \
       done | cut -d: -f1 | sort -u > /runtime-packages

FROM debian:12-slim
ARG DEBIAN_FRONTEND=noninteractive
COPY --from=build /runtime-packages /runtime-packages
RUN apt-get update && apt-get install -y --no-install-recommends \
      $(cat /runtime-packages) libopenblas0 libdnnl2 openmpi-bin openssh-server openssh-client dataset-fashion-mnist \
      python3-xgboost \
    && rm -rf /var/lib/apt/lists/* /runtime-packages \
    && useradd --create-home --uid 1000 --shell /bin/bash ringmaster \
    && mkdir -p /run/sshd /home/ringmaster/.ssh && chown ringmaster: /home/ringmaster/.ssh && chmod 700 /home/ringmaster/.ssh
COPY --from=build /src/build/ringmaster /src/build/ringmaster-ps /usr/local/bin/
COPY examples /opt/ringmaster/examples
# sshd for MPIJob workers, runnable without root: its own host key and config under the user's home.
RUN printf '%s\n' 'Port 2222' 'HostKey /home/ringmaster/.sshd/host_ed25519' 'PidFile /home/ringmaster/.sshd/sshd.pid' \
      'PasswordAuthentication no' 'StrictModes no' 'UsePAM no' 'AuthorizedKeysFile .ssh/authorized_keys' \
      > /etc/ssh/sshd_config.d/ringmaster.conf \
    && mkdir -p /home/ringmaster/.sshd && ssh-keygen -q -t ed25519 -N '' -f /home/ringmaster/.sshd/host_ed25519 \
    && chown -R ringmaster: /home/ringmaster/.sshd \
    && printf '%s\n' 'Host *' '  Port 2222' '  StrictHostKeyChecking no' '  UserKnownHostsFile /dev/null' > /etc/ssh/ssh_config.d/ringmaster.conf
USER ringmaster
WORKDIR /home/ringmaster
ENV OMPI_MCA_plm_rsh_agent=ssh
ENTRYPOINT []
CMD ["ringmaster", "--help"]
