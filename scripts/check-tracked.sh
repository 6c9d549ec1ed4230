#!/usr/bin/env bash
# Fails if a tracked file looks like build output: an ELF file other than the
# committed bpf2go objects (*_bpfel.o), or any file over 1 MiB (the largest
# source here is a BPF object of about 330 KiB).
set -euo pipefail
cd "$(dirname "$0")/.."

git ls-files -z | perl -0 -ne '
	chomp;
	next unless -f;
	if (-s _ > 1048576) { print STDERR "check-tracked: $_ is over 1 MiB: build output or data that belongs elsewhere\n"; $bad = 1 }
	next if /_bpfel\.o$/;
	open(my $fh, "<", $_) or die "check-tracked: $_: $!\n";
	read($fh, my $magic, 4);
	if ($magic eq "\x7fELF") { print STDERR "check-tracked: $_ is an ELF file (build output); only bpf2go objects are committed\n"; $bad = 1 }
	END { exit($bad ? 1 : 0) }'
