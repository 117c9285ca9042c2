#!/usr/bin/env bash
# Builds etcd's own load generator (tools/benchmark from Debian's etcd source package) in GOPATH
# mode against Debian's Go library packages, without any module proxy. Everything it builds stays
# in bench/.tools/ (git-ignored); nothing of etcd's source enters the repository.
# Idempotent: exits at once when the binary is already there.
set -euo pipefail

benchDir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
toolsDir="$benchDir/.tools"
binaryPath="$toolsDir/bin/benchmark"

if [[ -x "$binaryPath" ]]; then
  echo "setup: $binaryPath present"
  exit 0
fi

# Packages named by the tool's imports (checked against Debian's Build-Depends of etcd).
goPackages=(
  golang-go dpkg-dev
  golang-etcd-server-dev
  golang-github-spf13-cobra-dev golang-github-spf13-pflag-dev
  golang-gopkg-cheggaaa-pb.v1-dev golang-golang-x-time-dev
  golang-github-bgentry-speakeasy-dev golang-github-dustin-go-humanize-dev
  golang-google-grpc-dev golang-github-gogo-protobuf-dev
)

needInstall=()
for pkg in "${goPackages[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || needInstall+=("$pkg")
done

# apt-get source needs a deb-src line; derive it from the machine's own Debian mirror and suites.
ensureDebSrc() {
  if grep -rqs '^Types:.*deb-src\|^deb-src ' /etc/apt/sources.list /etc/apt/sources.list.d/; then
    return
  fi
  local mainSources=/etc/apt/sources.list.d/debian.sources
  local mirror suites
  mirror="$(awk '/^URIs:/ && $2 ~ /debian\/?$/ {print $2; exit}' "$mainSources" 2>/dev/null || true)"
  suites="$(awk '/^URIs:/ {uri=$2} /^Suites:/ && uri ~ /debian\/?$/ {sub(/^Suites: */, ""); print; exit}' "$mainSources" 2>/dev/null || true)"
  if [[ -z "$mirror" ]]; then
    mirror="$(awk '$1=="deb" && $0 !~ /security/ {print $2; exit}' /etc/apt/sources.list 2>/dev/null || true)"
    suites="$(awk '$1=="deb" && $0 !~ /security/ {print $3; exit}' /etc/apt/sources.list 2>/dev/null || true)"
  fi
  : "${mirror:=http://deb.debian.org/debian}"
  : "${suites:=$(. /etc/os-release && echo "$VERSION_CODENAME")}"
  echo "setup: adding deb-src for $mirror ($suites)"
  cat > /etc/apt/sources.list.d/etcd-ts-bench-src.sources <<SRC
Types: deb-src
URIs: $mirror
Suites: $suites
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
  aptUpdated=0
}

aptUpdated=1
ensureDebSrc
if [[ $aptUpdated -eq 0 ]] || ! apt-cache showsrc etcd >/dev/null 2>&1 || [[ ${#needInstall[@]} -gt 0 ]]; then
  apt-get update -qq
fi
if [[ ${#needInstall[@]} -gt 0 ]]; then
  echo "setup: installing ${needInstall[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${needInstall[@]}" >/dev/null
fi

srcRoot="$toolsDir/src-pkg"
mkdir -p "$srcRoot"
sourceTree="$(find "$srcRoot" -maxdepth 1 -type d -name 'etcd-*' | head -n1)"
if [[ -z "$sourceTree" ]]; then
  (cd "$srcRoot" && apt-get source -qq -o APT::Sandbox::User=root etcd >/dev/null)
  sourceTree="$(find "$srcRoot" -maxdepth 1 -type d -name 'etcd-*' | head -n1)"
fi
[[ -d "$sourceTree/tools/benchmark" ]] || { echo "setup: no tools/benchmark in $sourceTree" >&2; exit 1; }

# Scratch GOPATH first, Debian's /usr/share/gocode second: the tool lands at its own import path
# and finds etcd's client and every dependency where Debian installed them.
scratchGopath="$toolsDir/gopath"
toolImportDir="$scratchGopath/src/go.etcd.io/etcd/tools/benchmark"
rm -rf "$toolImportDir"
mkdir -p "$(dirname "$toolImportDir")"
cp -r "$sourceTree/tools/benchmark" "$toolImportDir"

mkdir -p "$toolsDir/bin" "$toolsDir/gocache"
(
  cd "$toolImportDir"
  GO111MODULE=off GOPATH="$scratchGopath:/usr/share/gocode" GOPROXY=off GOFLAGS= \
    GOCACHE="$toolsDir/gocache" go build -o "$binaryPath" .
)
echo "setup: built $binaryPath"
