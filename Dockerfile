FROM node:20-bookworm
RUN apt-get update && apt-get install -y --no-install-recommends clang llvm libbpf-dev bpftool libelf-dev zlib1g-dev pkg-config make conntrack iptables iproute2 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci
COPY . .
# The eBPF helper's build says what is missing and succeeds (so tests run anywhere); an image without it would
# record /proc only, without bytes: refuse to build one.
RUN npm run build && npm run build:bpf && { test -x bpf/conntrail-bpf || { echo 'eBPF helper bpf/conntrail-bpf was not built (see the make output above)' >&2; exit 1; }; }
