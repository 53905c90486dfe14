# Shared by scripts/demo and scripts/test: install the Debian packages
# govbus needs when they are missing, and build with meson.

GB_PACKAGES=(gcc libc6-dev meson ninja-build pkg-config
	libzmq3-dev libprotobuf-c-dev protobuf-c-compiler
	libsodium-dev liblmdb-dev libyaml-dev
	protobuf-compiler libprotobuf-dev libjansson-dev
	libmicrohttpd-dev curl openssl) # http/: server; its tests' client and certificate

# Install whichever of GB_PACKAGES (plus any given) are not installed.
gb_install_deps() {
	local missing=() p
	for p in "${GB_PACKAGES[@]}" "$@"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" ||
			missing+=("$p")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	echo "==> installing Debian packages: ${missing[*]}"
	local sudo=""
	[ "$(id -u)" -eq 0 ] || sudo="sudo"
	$sudo apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# gb_build DIR [meson options...]: configure (once) and build.
gb_build() {
	local dir=$1
	shift
	if [ ! -f "$dir/build.ninja" ]; then
		meson setup "$dir" "$@" >/dev/null
	fi
	echo "==> building in $dir"
	if ! ninja -C "$dir" >"$dir/build.log" 2>&1; then
		grep -E "error|FAILED" "$dir/build.log" | head -n 20 >&2
		echo "build failed in $dir; full log: $dir/build.log" >&2
		return 1
	fi
}
