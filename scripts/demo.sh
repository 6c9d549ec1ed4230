#!/usr/bin/env bash
# make demo: Axon end to end on this host, no Kubernetes. Builds the agent,
# creates the demo topology (network namespaces on the bridge axdemo0, see
# examples/policies), starts a real HTTP server in `orders` and the agent with
# examples/policies, sends the sample requests with curl from web, batch,
# prober and the host, switches one policy to Audit and shows the audit_deny
# counter move and what `axon audit report` says, prints the metrics, and
# removes everything it created.
# Run as root. Safe to re-run: it first removes leftovers of an earlier run.
set -euo pipefail
cd "$(dirname "$0")/.."

BRIDGE=axdemo0
SUBNET_HOST=10.77.0.1/24
# name:ip of every demo pod; the namespace is axd-<name>, its bridge port axdv-<name>.
PODS=(orders:10.77.0.10 web:10.77.0.20 batch:10.77.0.30 prober:10.77.0.40)
WORK=/tmp/axon-demo
PIN=/sys/fs/bpf/axon-demo
METRICS=127.0.0.1:9477
AUDIT_POLICY=${AXON_DEMO_AUDIT_POLICY:-shop/orders-api}
# The bridge port of orders sees every request to it, from pods and host alike.
ATTACH=${AXON_DEMO_ATTACH:-axdv-orders}

if [ "$(id -u)" -ne 0 ]; then
	echo "make demo needs root (network namespaces and BPF): try sudo make demo" >&2
	exit 1
fi
for tool in ip curl go; do
	command -v "$tool" >/dev/null || { echo "make demo needs $tool (make deps installs it)" >&2; exit 1; }
done

if [ -t 1 ]; then
	say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
else
	say() { printf '\n== %s\n' "$*"; }
fi

teardown() {
	for f in "$WORK/agent.pid" "$WORK/server.pid"; do
		if [ -f "$f" ]; then
			kill "$(cat "$f")" 2>/dev/null || true
			rm -f "$f"
		fi
	done
	if [ -x bin/axon-agent ]; then
		bin/axon-agent cleanup --pin-dir "$PIN" >/dev/null 2>&1 || true
	fi
	for p in "${PODS[@]}"; do
		name=${p%%:*}
		ip link del "axdv-$name" 2>/dev/null || true
		ip netns del "axd-$name" 2>/dev/null || true
	done
	ip link del "$BRIDGE" 2>/dev/null || true
}

teardown
rm -rf "$WORK"
mkdir -p "$WORK" bin
trap 'teardown' EXIT

say "Building bin/axon-agent and the demo's server and request driver"
go build -o bin/ ./cmd/axon-agent ./cmd/axon
go build -o "$WORK/server" ./scripts/demo/server
go build -o "$WORK/requests" ./scripts/demo/requests

say "Creating the topology: bridge $BRIDGE ($SUBNET_HOST) and one network namespace per pod"
ip link add "$BRIDGE" type bridge
ip addr add "$SUBNET_HOST" dev "$BRIDGE"
ip link set "$BRIDGE" up
ns_flags=()
for p in "${PODS[@]}"; do
	name=${p%%:*} addr=${p#*:}
	ip netns add "axd-$name"
	ip link add "axdv-$name" type veth peer name "axdp-$name"
	ip link set "axdp-$name" netns "axd-$name"
	ip link set "axdv-$name" master "$BRIDGE" up
	ip -n "axd-$name" link set "axdp-$name" name eth0
	ip -n "axd-$name" addr add "$addr/24" dev eth0
	ip -n "axd-$name" link set eth0 up
	ip -n "axd-$name" link set lo up
	ip -n "axd-$name" route add default via "${SUBNET_HOST%/*}"
	ns_flags+=(--ns "$addr=axd-$name")
	printf '  %-7s %-11s netns axd-%-7s bridge port axdv-%s\n' "$name" "$addr" "$name" "$name"
done
echo "  host    ${SUBNET_HOST%/*}    (this machine: an external source, 'world')"

say "Starting the HTTP server in orders (10.77.0.10:8080)"
ip netns exec axd-orders "$WORK/server" --addr 10.77.0.10:8080 --log "$WORK/server.log" >"$WORK/server.out" 2>&1 &
echo $! >"$WORK/server.pid"

cp -r examples/policies "$WORK/policies"
# Observe the shop pods (docs/observability.md): RED metrics of the traffic.
cat >"$WORK/policies/http-monitor.yaml" <<'YAML'
apiVersion: axon.dev/v1alpha1
kind: HTTPMonitor
metadata: {name: shop, namespace: shop}
spec:
  podSelector: {}
  ports: [{port: 8080}]
  maxRoutes: 50
YAML
say "Starting the agent: policies from a copy of examples/policies, attached to $ATTACH"
echo "  bin/axon-agent --policy-dir $WORK/policies --attach $ATTACH --metrics-addr $METRICS"
bin/axon-agent --policy-dir "$WORK/policies" --attach "$ATTACH" --metrics-addr "$METRICS" \
	--pin-dir "$PIN" --log-decisions >"$WORK/agent.log" 2>&1 &
echo $! >"$WORK/agent.pid"
for _ in $(seq 100); do
	if curl -fsS "http://$METRICS/readyz" >/dev/null 2>&1; then break; fi
	if ! kill -0 "$(cat "$WORK/agent.pid")" 2>/dev/null; then
		echo "the agent exited:"; cat "$WORK/agent.log"; exit 1
	fi
	sleep 0.1
done
if ! curl -fsS "http://$METRICS/readyz" >/dev/null 2>&1; then
	echo "the agent did not become ready:"; curl -sS "http://$METRICS/readyz" || true; cat "$WORK/agent.log"; exit 1
fi
echo "  ready: $(grep -m1 'msg=attached' "$WORK/agent.log" | sed 's/.*msg=attached //')"

metric() { # metric NAME [SUBSTRING...]: sum of the samples of NAME containing every SUBSTRING
	local name=$1
	shift
	curl -fsS "http://$METRICS/metrics" | awk -v n="$name" -v subs="$*" '
		BEGIN { k = split(subs, want, " ") }
		$1 == n || index($1, n "{") == 1 {
			for (i = 1; i <= k; i++) if (index($1, want[i]) == 0) next
			s += $NF
		}
		END { printf "%d", s }'
}

say "Sending the sample requests of examples/policies/samples.yaml with curl"
echo "  (reset = the connection was reset: the request never reached the server)"
echo
status=0
"$WORK/requests" --policy-dir "$WORK/policies" --server-log "$WORK/server.log" "${ns_flags[@]}" || status=1

say "What the agent logged about denied requests (--log-decisions; first 3 of $(grep -c 'msg=decision' "$WORK/agent.log"))"
grep 'msg=decision' "$WORK/agent.log" | head -3 | sed -E 's/^time=[^ ]+ level=[A-Z]+ msg=decision /  /'

say "Switching $AUDIT_POLICY to Audit mode (in the copy), without restarting the agent"
file=$(grep -l -E "^  name: ${AUDIT_POLICY#*/}\$" "$WORK"/policies/*.yaml | head -1)
if [ -z "$file" ]; then echo "no file defines $AUDIT_POLICY"; exit 1; fi
gen=$(metric axon_policy_generation)
audit_labels=("policy=\"${AUDIT_POLICY#*/}\"" 'decision="audit_deny"')
before=$(metric axon_policy_decisions_total "${audit_labels[@]}")
if grep -qE '^  mode: ' "$file"; then
	sed -i -E 's/^  mode: .*/  mode: Audit/' "$file"
else
	sed -i -E 's/^spec:$/spec:\n  mode: Audit/' "$file"
fi
echo "  edited $(basename "$file"): $(grep -E '^  mode: ' "$file" | xargs)"
for _ in $(seq 40); do
	[ "$(metric axon_policy_generation)" -gt "$gen" ] && break
	sleep 0.1
done
echo "  applied: policy generation $gen -> $(metric axon_policy_generation)"
echo
"$WORK/requests" --policy-dir "$WORK/policies" --server-log "$WORK/server.log" --audit "$AUDIT_POLICY" "${ns_flags[@]}" || status=1
after=$(metric axon_policy_decisions_total "${audit_labels[@]}")
echo
echo "  axon_policy_decisions_total{policy=\"${AUDIT_POLICY#*/}\",decision=\"audit_deny\"}: $before -> $after"

say "What $AUDIT_POLICY would deny if enforced (docs/audit-workflow.md)"
echo "  bin/axon audit report --agent $METRICS"
bin/axon audit report --agent "$METRICS" | sed 's/^/  /'

say "Metrics (curl http://$METRICS/metrics)"
curl -fsS "http://$METRICS/metrics" | grep -E '^axon_(policy_decisions_total|drops_total|policy_generation|policy_last_load_ok|policy_load_errors_total|policy_table_rows|enforcing|attached|ringbuf_lost_events_total)' | sort

say "RED metrics of the demo's traffic (HTTPMonitor shop/shop; requests Axon reset were never served)"
curl -fsS "http://$METRICS/metrics" | grep -E '^(http_(server|client)_request_duration_seconds_count|axon_http_unanswered_requests_total|axon_http_observer_lost_total)' | grep -v ' 0$' | sort || true

say "Cleaning up: stopping the agent, axon-agent cleanup, removing namespaces and bridge"
teardown
trap - EXIT
echo "  done"
exit $status
