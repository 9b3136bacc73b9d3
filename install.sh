#!/bin/sh
# Installs the nexus binary for this machine.
#
#   curl -fsSL https://github.com/nexus-dev/nexus/releases/latest/download/install.sh | sh
#   curl -fsSL .../install.sh | sh -s -- --yes
#
# Options:
#   --yes              consent to everything without asking (PATH line in the shell rc, daemon service)
#   --no-modify-path   never touch shell rc files; only print the PATH line
#
# Environment:
#   NEXUS_VERSION       release to install, e.g. 0.1.0 (default: latest)
#   NEXUS_DOWNLOAD_URL  folder holding nexus-<os>-<arch> and SHA256SUMS
#                       (default: https://github.com/nexus-dev/nexus/releases/latest/download,
#                       or .../releases/download/v$NEXUS_VERSION)
#   NEXUS_INSTALL_DIR   where the binary goes (default: ~/.nexus/bin)
#
# The whole script is one function called on the last line, so a truncated download runs nothing.

main() {
  set -eu

  yes=0
  modify_path=1
  for arg in "$@"; do
    case "$arg" in
      -y | --yes) yes=1 ;;
      --no-modify-path) modify_path=0 ;;
      -h | --help)
        echo "usage: install.sh [--yes] [--no-modify-path]  (env: NEXUS_VERSION, NEXUS_DOWNLOAD_URL, NEXUS_INSTALL_DIR)"
        return 0
        ;;
      *) fail "unknown option '$arg' (known: --yes, --no-modify-path)" ;;
    esac
  done

  os="$(detect_os)"
  arch="$(detect_arch)"
  asset="nexus-${os}-${arch}"

  version="${NEXUS_VERSION:-latest}"
  if [ -n "${NEXUS_DOWNLOAD_URL:-}" ]; then
    base_url="${NEXUS_DOWNLOAD_URL%/}"
  elif [ "$version" = "latest" ]; then
    base_url="https://github.com/nexus-dev/nexus/releases/latest/download"
  else
    base_url="https://github.com/nexus-dev/nexus/releases/download/v${version#v}"
  fi
  install_dir="${NEXUS_INSTALL_DIR:-${HOME:?HOME is not set}/.nexus/bin}"
  target="${install_dir}/nexus"

  tmp="$(mktemp -d 2>/dev/null || mktemp -d -t nexus-install)"
  # shellcheck disable=SC2064 # $tmp is fixed now, and must be expanded now
  trap "rm -rf '$tmp'" EXIT
  trap 'exit 130' INT TERM

  say "Downloading ${asset} (${version}) from ${base_url}"
  download "${base_url}/SHA256SUMS" "${tmp}/SHA256SUMS"
  expected="$(awk -v f="$asset" '$2 == f || $2 == "*" f { print $1; exit }' "${tmp}/SHA256SUMS")"
  [ -n "$expected" ] || fail "SHA256SUMS from ${base_url} lists no ${asset}"

  if [ -f "$target" ] && [ "$(sha256_of "$target")" = "$expected" ]; then
    say "nexus is already installed at ${target} (same version, sha256 ${expected}); nothing to do"
    finish
    return 0
  fi

  download "${base_url}/${asset}" "${tmp}/${asset}"
  actual="$(sha256_of "${tmp}/${asset}")"
  if [ "$actual" != "$expected" ]; then
    fail "checksum mismatch for ${asset}: expected ${expected}, got ${actual}; nothing was installed"
  fi

  # Same folder, then rename: a running nexus never sees a half-written file.
  mkdir -p "$install_dir"
  staged="${install_dir}/.nexus.$$.tmp"
  cp "${tmp}/${asset}" "$staged"
  chmod 755 "$staged"
  mv -f "$staged" "$target"
  say "Installed nexus to ${target}"
  "$target" version 2>/dev/null | sed -n '1p' || true

  finish
}

# PATH advice (or the rc line, with consent) and the daemon service offer.
finish() {
  case ":${PATH}:" in
    *":${install_dir}:"*) ;;
    *) add_to_path ;;
  esac
  if [ "$yes" -eq 1 ]; then
    say "Installing the daemon as a user service: ${target} daemon install"
    "$target" daemon install || say "Could not install the service; run '${target} daemon install' later"
  else
    say "To start the daemon at login, run: nexus daemon install"
  fi
}

add_to_path() {
  line="export PATH=\"${install_dir}:\$PATH\""
  rc="$(shell_rc)"
  if [ "$modify_path" -eq 0 ] || [ -z "$rc" ]; then
    say "Add nexus to your PATH:  ${line}"
    return 0
  fi
  if [ -f "$rc" ] && grep -F "$line" "$rc" >/dev/null 2>&1; then
    say "${rc} already puts ${install_dir} on PATH; open a new shell"
    return 0
  fi
  consent=0
  if [ "$yes" -eq 1 ]; then
    consent=1
  elif [ -t 1 ] && (: </dev/tty) 2>/dev/null; then
    printf 'Add %s to PATH in %s? [y/N] ' "$install_dir" "$rc" >/dev/tty
    read -r answer </dev/tty || answer=""
    case "$answer" in y | Y | yes | YES) consent=1 ;; esac
  fi
  if [ "$consent" -eq 1 ]; then
    if [ "${rc##*/}" = "config.fish" ]; then
      mkdir -p "${rc%/*}"
      printf '\n# nexus\nfish_add_path "%s"\n' "$install_dir" >>"$rc"
    else
      printf '\n# nexus\n%s\n' "$line" >>"$rc"
    fi
    say "Added ${install_dir} to PATH in ${rc}; open a new shell"
  else
    say "Add nexus to your PATH:  ${line}"
  fi
}

shell_rc() {
  case "${SHELL:-}" in
    */zsh) echo "${ZDOTDIR:-$HOME}/.zshrc" ;;
    */bash) echo "${HOME}/.bashrc" ;;
    */fish) echo "${XDG_CONFIG_HOME:-$HOME/.config}/fish/config.fish" ;;
    *) echo "${HOME}/.profile" ;;
  esac
}

detect_os() {
  case "$(uname -s)" in
    Linux) echo linux ;;
    Darwin) echo darwin ;;
    *) fail "unsupported operating system '$(uname -s)': nexus runs on Linux and macOS" ;;
  esac
}

detect_arch() {
  case "$(uname -m)" in
    x86_64 | amd64) echo x64 ;;
    aarch64 | arm64) echo arm64 ;;
    *) fail "unsupported architecture '$(uname -m)': nexus runs on x64 and arm64" ;;
  esac
}

download() {
  if command -v curl >/dev/null 2>&1; then
    curl -fsSL --retry 2 -o "$2" "$1" || fail "download of $1 failed"
  elif command -v wget >/dev/null 2>&1; then
    wget -q -O "$2" "$1" || fail "download of $1 failed"
  else
    fail "neither curl nor wget is installed"
  fi
}

sha256_of() {
  if command -v sha256sum >/dev/null 2>&1; then
    sha256sum "$1" | awk '{ print $1 }'
  elif command -v shasum >/dev/null 2>&1; then
    shasum -a 256 "$1" | awk '{ print $1 }'
  else
    fail "neither sha256sum nor shasum is installed; cannot verify the download"
  fi
}

say() {
  printf 'nexus-install: %s\n' "$*" >&2
}

fail() {
  printf 'nexus-install: error: %s\n' "$*" >&2
  exit 1
}

main "$@"
