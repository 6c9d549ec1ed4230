#!/usr/bin/env bash
# Fetch the Debian cloud kernels of the kernel matrix and cache, per kernel series, the
# vmlinuz and the modules the BPF tests need (plain .ko, dependencies first).
#
#   scripts/kernels/fetch.sh [series...]      series: 5.10 6.1 6.12 (default: all)
#
# Cache layout (AXON_KERNEL_CACHE, default ~/.cache/axon/kernels):
#   <series>/vmlinuz       the kernel image
#   <series>/kver          the exact kernel release (uname -r inside the VM)
#   <series>/package       the Debian package and version it came from
#   <series>/modules/      NN-name.ko, load them in lexical order
#   <series>/.complete     written last, holds the module list; a series whose .complete names the
#                          same modules is skipped (AXON_KERNELS_REFRESH=1 refetches)
#
# 5.10 comes from bullseye-security through a temporary sources file and a private apt state
# directory, both removed afterwards: the host's apt configuration is never touched.
set -euo pipefail

CACHE="${AXON_KERNEL_CACHE:-$HOME/.cache/axon/kernels}"
# Modules the tests load (TC attach, veth pairs, test/netns bridges, sock_diag of TCP, and the netlink families
# vishvananda/netlink.NewHandle opens: a real host autoloads them, the guest has no modprobe);
# built-in ones are skipped.
MODULES=(sch_ingress cls_bpf veth bridge xfrm_user nfnetlink tcp_diag)
SERIES=("$@")
[ ${#SERIES[@]} -gt 0 ] || SERIES=(5.10 6.1 6.12)

log() { echo "fetch: $*" >&2; }
die() { echo "fetch: error: $*" >&2; exit 1; }

for tool in apt-get apt-cache dpkg-deb xz zstd; do
	command -v "$tool" >/dev/null || die "$tool not found (Debian host needed)"
done

# meta package whose dependency names the concrete kernel image, and the apt suite to use.
meta_for() {
	case "$1" in
	5.10) echo "linux-image-cloud-amd64" ;;
	6.1) echo "linux-image-cloud-amd64" ;;
	6.12) echo "linux-image-6.12-cloud-amd64" ;;
	*) die "unknown kernel series $1 (known: 5.10 6.1 6.12)" ;;
	esac
}

# apt options for the private bullseye-security state (set up by bullseye_apt_setup).
APT_PRIV=()
PRIV_DIR=""
cleanup() { [ -z "$PRIV_DIR" ] || rm -rf "$PRIV_DIR"; }
trap cleanup EXIT

bullseye_apt_setup() {
	[ -z "$PRIV_DIR" ] || return 0
	PRIV_DIR="$(mktemp -d /tmp/axon-apt.XXXXXX)"
	chmod 755 "$PRIV_DIR" # apt downloads as the _apt user
	mkdir -p "$PRIV_DIR/lists/partial" "$PRIV_DIR/cache/archives/partial"
	cat >"$PRIV_DIR/sources.list" <<-'EOF'
		deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian-security bullseye-security main
	EOF
	: >"$PRIV_DIR/status"
	APT_PRIV=(
		-o "Dir::Etc::SourceList=$PRIV_DIR/sources.list"
		-o "Dir::Etc::SourceParts=/dev/null"
		-o "Dir::State::Lists=$PRIV_DIR/lists"
		-o "Dir::State::status=$PRIV_DIR/status"
		-o "Dir::Cache=$PRIV_DIR/cache"
		-o "APT::Get::List-Cleanup=false"
	)
	log "apt-get update (temporary bullseye-security sources in $PRIV_DIR)"
	apt-get "${APT_PRIV[@]}" -qq update >&2 || die "apt-get update for bullseye-security failed"
}

# image_package <series>: prints the concrete linux-image package name.
image_package() {
	local series="$1" meta pkg
	meta="$(meta_for "$series")"
	local -a opts=()
	if [ "$series" = 5.10 ]; then
		bullseye_apt_setup
		opts=("${APT_PRIV[@]}")
	fi
	pkg="$(apt-cache "${opts[@]}" depends "$meta" 2>/dev/null |
		sed -n 's/^ *Depends: \(linux-image-[0-9][^ ]*-cloud-amd64\)$/\1/p' | head -n1)"
	[ -n "$pkg" ] || die "no kernel image package behind $meta for $series (apt-cache policy $meta)"
	case "$pkg" in
	linux-image-"$series".*) ;;
	*) die "$meta resolves to $pkg, not a $series kernel" ;;
	esac
	echo "$pkg"
}

# module_path <moddir> <name>: prints the module file, or nothing if there is none (built in).
module_path() {
	local moddir="$1" name="$2"
	find "$moddir/kernel" \( -name "$name.ko*" -o -name "${name//_/-}.ko*" \) | head -n1
}

# module_deps <file>: prints the names in the module's modinfo depends= field.
module_deps() {
	decompress_to "$1" /dev/stdout | tr '\0' '\n' | sed -n 's/^depends=//p' | head -n1 | tr ',' ' '
}

# module_closure <moddir> <name>: prints module files, dependencies before their users.
# The Debian package carries no modules.dep (depmod runs at install), so read modinfo.
module_closure() {
	local moddir="$1" name="$2" file d
	file="$(module_path "$moddir" "$name")"
	[ -n "$file" ] || return 0
	for d in $(module_deps "$file"); do
		module_closure "$moddir" "$d"
	done
	echo "$file"
}

decompress_to() {
	local src="$1" dst="$2"
	case "$src" in
	*.xz) xz -dc "$src" >"$dst" ;;
	*.zst) zstd -qdc "$src" >"$dst" ;;
	*.gz) gzip -dc "$src" >"$dst" ;;
	*) cp "$src" "$dst" ;;
	esac
}

fetch_series() {
	local series="$1" dir="$CACHE/$1"
	if [ -f "$dir/.complete" ] && [ "$(cat "$dir/.complete")" = "${MODULES[*]}" ] &&
		[ "${AXON_KERNELS_REFRESH:-0}" != 1 ]; then
		log "$series: cached ($(cat "$dir/kver")), skipping"
		return 0
	fi
	local pkg work
	[ "$series" != 5.10 ] || bullseye_apt_setup # in this shell: image_package runs in a subshell
	if ! pkg="$(image_package "$series" 2>/dev/null)"; then
		# Package lists older than the meta package (a machine whose lists came with its
		# image): update once and resolve again.
		[ "$series" != 5.10 ] && [ -z "${APT_UPDATED:-}" ] || pkg="$(image_package "$series")"
		log "$series: $(meta_for "$series") not in the package lists, running apt-get update"
		apt-get -qq update >&2 || true
		APT_UPDATED=1
		pkg="$(image_package "$series")"
	fi
	work="$(mktemp -d /tmp/axon-kernel.XXXXXX)"
	log "$series: downloading $pkg"
	local -a opts=()
	[ "$series" != 5.10 ] || opts=("${APT_PRIV[@]}")
	chmod 755 "$work"
	if ! (cd "$work" && apt-get "${opts[@]}" -o APT::Sandbox::User=root -qq download "$pkg" >&2); then
		# Stale package lists name versions the mirror no longer has: update once and retry.
		[ "$series" != 5.10 ] && [ -z "${APT_UPDATED:-}" ] || { rm -rf "$work"; die "apt-get download $pkg failed"; }
		log "$series: download failed, running apt-get update and retrying"
		apt-get -qq update >&2 || true
		APT_UPDATED=1
		pkg="$(image_package "$series")"
		(cd "$work" && apt-get -o APT::Sandbox::User=root -qq download "$pkg" >&2) || {
			rm -rf "$work"
			die "apt-get download $pkg failed"
		}
	fi
	local deb
	deb="$(ls "$work"/*.deb | head -n1)"
	dpkg-deb -x "$deb" "$work/root"
	local vmlinuz kver moddir
	vmlinuz="$(ls "$work"/root/boot/vmlinuz-* | head -n1)"
	kver="${vmlinuz##*/vmlinuz-}"
	moddir="$work/root/lib/modules/$kver"
	[ -d "$moddir/kernel" ] || moddir="$work/root/usr/lib/modules/$kver"
	[ -d "$moddir/kernel" ] || die "$pkg has no lib/modules/$kver/kernel"

	rm -rf "$dir.new"
	mkdir -p "$dir.new/modules"
	cp "$vmlinuz" "$dir.new/vmlinuz"
	echo "$kver" >"$dir.new/kver"
	dpkg-deb -W --showformat='${Package} ${Version}\n' "$deb" >"$dir.new/package"

	local n=0 m r seen=" "
	for m in "${MODULES[@]}"; do
		if [ -z "$(module_path "$moddir" "$m")" ]; then
			grep -qE "(^|/)${m//_/[-_]}\.ko" "$moddir/modules.builtin" ||
				die "$series: module $m is neither modular nor built in"
			log "$series: $m is built in"
			continue
		fi
		for r in $(module_closure "$moddir" "$m"); do
			case "$seen" in *" $r "*) continue ;; esac
			seen="$seen$r "
			local base="${r##*/}"
			base="${base%%.ko*}"
			decompress_to "$r" "$dir.new/modules/$(printf '%02d' "$n")-$base.ko"
			n=$((n + 1))
		done
	done
	echo "${MODULES[*]}" >"$dir.new/.complete"
	rm -rf "$dir"
	mv "$dir.new" "$dir"
	rm -rf "$work"
	log "$series: cached $kver ($(cat "$dir/package")) modules: $(ls "$dir/modules" | tr '\n' ' ')"
}

mkdir -p "$CACHE"
for s in "${SERIES[@]}"; do
	fetch_series "$s"
done
