#!/usr/bin/env bash
# End to end in the namespace lab: many targets in one run and Prometheus.
# A fleet from --targets-file (names from the client's own hosts file: the
# server by its IPv4 and its IPv6 address, and a name that does not
# resolve), each with its own ports and expectations: the JSON list, the
# text table, one JUnit suite each, the exposition checked by Prometheus'
# own promtool, --output written whole; then `prober serve` as Prometheus
# scrapes it: /probe with probe_success and the verdict series, 400, 403,
# 404, 503 when busy, the scrape's own timeout, /metrics, and a real
# Prometheus server scraping it and answering a query on the verdict; and the
# agent's own --metrics.
# usage: fleet_test.sh BUILD_BIN_DIR JUNIT_XSD
source "$(dirname "$0")/lib.sh"
XSD=$(cd "$(dirname "$2")" && pwd)/$(basename "$2")
e2e_setup "$1"
PROMTOOL=$("$E2E_ROOT/scripts/promtool.sh")

quiet() { "$@" >/dev/null 2>&1; }
quiet lab serve server :: 22 --echo    # open
quiet lab serve server :: 8081 --silent  # accepts, never answers: an http probe waits
quiet lab fault isp-block 25           # blocked in transit
lab hosts client web1 "$(lab addr server 4)" web2 "$(lab addr server 6)" elsewhere "$(lab addr isp 4)"
start_agent --metrics 127.0.0.1:9412

cat >"$TMPD/fleet.txt" <<'LIST'
# the fleet: one target a line, HOST [PORTS] [key=value...]
web1 22,25,80 expect=22=open expect=25=blocked   # 80: nothing listens
web2 22
nowhere.invalid
LIST
fleet=(--targets-file "$TMPD/fleet.txt" --ports 22 --probe "22=tcp" --token-file "$TOKEN_FILE" --timeout 1s)

# JSON: {"targets": [...]}, one report per line of the file, in its order.
start=$(date +%s%N)
prober_json "$TMPD/fleet.json" "${fleet[@]}"
took=$((($(date +%s%N) - start) / 1000000))
check "fleet: exit 1 (80 and the unresolved name)" test "$RC" -eq 1
check "fleet: three reports in the file's order" \
  jq_is "$TMPD/fleet.json" '[.targets[].target] | join(" ")' "web1 web2 nowhere.invalid"
t() { jq -r ".targets[] | select(.target == \"$1\") | $2" "$TMPD/fleet.json"; }
check "fleet: web1 at its IPv4 address" test "$(t web1 .address)" = "$(lab addr server 4)"
check "fleet: web2 at its IPv6 address" test "$(t web2 .address)" = "$(lab addr server 6)"
check "fleet: each its own agent session" \
  test "$(t web1 .agent.status) $(t web2 .agent.status)" = "CONNECTED CONNECTED"
check "fleet: web1's line: 25 blocked as expected" \
  test "$(t web1 '.ports[] | select(.port == 25) | "\(.verdict) \(.asExpected)"')" = "DROPPED_IN_TRANSIT true"
check "fleet: web1's 80 NO_LISTENER, not as expected" \
  test "$(t web1 '.ports[] | select(.port == 80) | "\(.verdict) \(.asExpected)"')" = "NO_LISTENER false"
check "fleet: web2 takes --ports (22), OPEN" test "$(t web2 '[.ports[] | "\(.port) \(.verdict)"] | join(",")')" = "22 OPEN"
check "fleet: web2 ok, web1 not" test "$(t web2 .ok) $(t web1 .ok)" = "true false"
check "fleet: the unresolved name is not tested, and says why" \
  bash -c "jq -r '.targets[2].error' '$TMPD/fleet.json' | grep -q 'cannot resolve nowhere.invalid'"
check "fleet: side by side, not one after another ($took ms)" test "$took" -lt 4000

# Text: the reports, then the table.
set +e
on client "$PROBER" "${fleet[@]}" >"$TMPD/fleet.txt.out" 2>&1
set -e
check "text: a report per target" test "$(grep -c '^dropspot: ' "$TMPD/fleet.txt.out")" -eq 3
check "text: the closing table" grep -q "^3 targets, 1 as expected" "$TMPD/fleet.txt.out"
check "text: web1's line names 80" grep -Eq "^  web1 +connected +2/3 +80 NO_LISTENER" "$TMPD/fleet.txt.out"
check "text: the unresolved name's line" grep -Eq "^  nowhere.invalid +- +- +not tested: cannot resolve" "$TMPD/fleet.txt.out"

# JUnit: one suite per target, valid against the schema.
set +e
on client "$PROBER" "${fleet[@]}" --format junit >"$TMPD/fleet.xml" 2>/dev/null
set -e
check "junit: valid against junit.xsd" xmllint --noout --schema "$XSD" "$TMPD/fleet.xml"
check "junit: three testsuites" test "$(xmllint --xpath 'count(//testsuite)' "$TMPD/fleet.xml")" = 3
check "junit: web1's 80 fails" \
  test "$(xmllint --xpath 'string(//testsuite[@name="dropspot web1"]/testcase[@name="tcp/80 http"]/failure/@type)' "$TMPD/fleet.xml")" = NO_LISTENER

# Prometheus: written whole to --output, valid for promtool, the verdicts as labels.
set +e
on client "$PROBER" "${fleet[@]}" --format prometheus --output "$TMPD/prom/dropspot.prom" 2>"$TMPD/noprom.err"
rc=$?
set -e
check "--output into a missing folder: exit 2 before probing" test "$rc" -eq 2
check "--output: the message names the folder" grep -q "no folder" "$TMPD/noprom.err"
mkdir -p "$TMPD/prom"
echo "old" >"$TMPD/prom/dropspot.prom"
set +e
on client "$PROBER" "${fleet[@]}" --format prometheus --output "$TMPD/prom/dropspot.prom" >"$TMPD/prom.stdout"
rc=$?
set -e
P=$TMPD/prom/dropspot.prom
check "prometheus: exit 1, as the JSON run" test "$rc" -eq 1
check "prometheus: nothing on stdout with --output" test ! -s "$TMPD/prom.stdout"
check "prometheus: --output replaced the old file, no temporary left" \
  bash -c "! grep -qx old '$P' && test \$(ls -A '$TMPD/prom' | wc -l) -eq 1"
check "prometheus: promtool check metrics" "$PROMTOOL" check metrics <"$P"
check "prometheus: web1's 80 NO_LISTENER" grep -qx 'dropspot_port_verdict{target="web1",protocol="tcp",port="80",verdict="NO_LISTENER"} 1' "$P"
check "prometheus: web1's 80 not ok" grep -qx 'dropspot_port_ok{target="web1",protocol="tcp",port="80"} 0' "$P"
check "prometheus: web1's 25 ok (expected blocked)" grep -qx 'dropspot_port_ok{target="web1",protocol="tcp",port="25"} 1' "$P"
check "prometheus: web2's agent up" grep -qx 'dropspot_agent_up{target="web2"} 1' "$P"
check "prometheus: the unresolved name's target_ok 0" grep -qx 'dropspot_target_ok{target="nowhere.invalid"} 0' "$P"
check "prometheus: a decision time per port" test "$(grep -c '^dropspot_port_decision_seconds{' "$P")" -eq 4
check "prometheus: promtool rejects a broken file (the check can fail)" \
  bash -c "! sed 's/^dropspot_port_ok{/dropspot_port_ok{{/' '$P' | '$PROMTOOL' check metrics >/dev/null 2>&1"

# The documented scrape configuration and alert rules, as Prometheus reads them.
check "docs: the scrape configuration passes promtool check config" \
  "$PROMTOOL" check config "$E2E_ROOT/docs/examples/prometheus/prometheus.yml"
check "docs: the alert rules pass promtool check rules" \
  "$PROMTOOL" check rules "$E2E_ROOT/docs/examples/prometheus/dropspot-alerts.yml"
# The alert's join carries the verdict (promtool test rules on this run's series).
cat >"$TMPD/alerts-test.yml" <<YAML
rule_files: [$E2E_ROOT/docs/examples/prometheus/dropspot-alerts.yml]
evaluation_interval: 1m
tests:
  - interval: 1m
    input_series:
$(grep -E '^dropspot_port_(ok|verdict)\{target="web1",protocol="tcp",port="80"' "$P" |
  sed -E 's/^([^ ]+) ([0-9]+)$/      - series: '"'"'\1'"'"'\n        values: "\2x10"/')
    alert_rule_test:
      - eval_time: 6m
        alertname: PortNotAsExpected
        exp_alerts:
          - exp_labels: {severity: page, target: web1, protocol: tcp, port: "80", verdict: NO_LISTENER}
            exp_annotations:
              summary: "web1 tcp/80: NO_LISTENER"
              description: "dropspot says NO_LISTENER for port 80 of web1. Run \`prober web1 -p 80\` for the evidence and the next command."
YAML
check "docs: the alert fires with the verdict (promtool test rules)" "$PROMTOOL" test rules "$TMPD/alerts-test.yml"

# The agent's own metrics: sessions by outcome, one of them a wrong token.
"$AGENT" token >"$TMPD/wrong-token"
chmod 600 "$TMPD/wrong-token"
set +e
on client "$PROBER" "$(lab addr server 4)" -p 22 --token-file "$TMPD/wrong-token" >/dev/null 2>&1
set -e
on server curl -s -o "$TMPD/agent.prom" "http://127.0.0.1:9412/metrics"
check "agent --metrics: promtool check metrics" "$PROMTOOL" check metrics <"$TMPD/agent.prom"
check "agent --metrics: the fleet's sessions completed" \
  bash -c "grep -E '^dropspot_agent_sessions_total\{outcome=\"completed\"\} ([6-9]|[1-9][0-9])$' '$TMPD/agent.prom'"
check "agent --metrics: the wrong token counted" \
  grep -qx 'dropspot_agent_sessions_total{outcome="authentication failed"} 1' "$TMPD/agent.prom"
check "agent --metrics: capture drops counted (none here)" \
  grep -qx 'dropspot_agent_capture_dropped_packets_total 0' "$TMPD/agent.prom"
check "agent --metrics: another path is 404" \
  test "$(on server curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:9412/)" = 404

# prober serve, scraped as Prometheus does.
on client bash -c '"$@"; echo $? >"$0"' "$TMPD/serve.rc" "$PROBER" serve --listen 127.0.0.1:9115 \
  --allow-target "$(lab addr server 4)" --allow-target web2 --token-file "$TOKEN_FILE" --max-probes 1 \
  >"$TMPD/serve.log" 2>&1 &
lab wait-listen client 9115 5
get() { # get OUT PATH [curl args]: sets CODE
  local out=$1 path=$2
  shift 2
  CODE=$(on client curl -s -o "$out" -w '%{http_code}' "$@" "http://127.0.0.1:9115$path")
}
S=$(lab addr server 4)
get "$TMPD/probe.prom" "/probe?target=$S&ports=22,80&probe=22%3Dtcp"
check "serve: /probe 200" test "$CODE" = 200
check "serve: /probe passes promtool" "$PROMTOOL" check metrics <"$TMPD/probe.prom"
check "serve: probe_success 0 (80 has no listener)" grep -qx "probe_success 0" "$TMPD/probe.prom"
check "serve: the verdict as a label" \
  grep -qx "dropspot_port_verdict{target=\"$S\",protocol=\"tcp\",port=\"80\",verdict=\"NO_LISTENER\"} 1" "$TMPD/probe.prom"
check "serve: probe_duration_seconds" grep -Eq "^probe_duration_seconds [0-9.e-]+$" "$TMPD/probe.prom"
get "$TMPD/ok.prom" "/probe?target=web2&ports=22&probe=22=tcp"
check "serve: a name allowed by name, probe_success 1" grep -qx "probe_success 1" "$TMPD/ok.prom"
get "$TMPD/web1.prom" "/probe?target=web1&ports=22&probe=22=tcp"
check "serve: a name whose address is allowed: 200" test "$CODE" = 200
# Slow clients: ten connections that send nothing hold ten threads, no more.
for _ in $(seq 10); do on client socat -u OPEN:/dev/null,ignoreeof TCP:127.0.0.1:9115 >/dev/null 2>&1 & done
sleep 0.5
start=$(date +%s%N)
get "$TMPD/during.prom" "/metrics"
took=$((($(date +%s%N) - start) / 1000000))
check "serve: ten silent clients do not hold up a scrape ($took ms)" test "$CODE" = 200 -a "$took" -lt 1000
get "$TMPD/403.txt" "/probe?target=elsewhere&ports=22"
check "serve: a name whose address is not allowed: 403" test "$CODE" = 403
get "$TMPD/403b.txt" "/probe?target=$(lab addr isp 4)&ports=22"
check "serve: an address outside --allow-target: 403" test "$CODE" = 403
check "serve: 403 says why in one line" bash -c "test \$(wc -l <'$TMPD/403b.txt') -eq 1 && grep -q 'not allowed here' '$TMPD/403b.txt'"
get "$TMPD/403c.txt" "/probe?target=$S&ports=22&agent=$(lab addr client 4)"
check "serve: an agent outside --allow-target: 403" test "$CODE" = 403
get "$TMPD/400.txt" "/probe?target=$S&ports=99999"
check "serve: bad ports: 400" test "$CODE" = 400
check "serve: 400 names the problem" grep -q "out of range" "$TMPD/400.txt"
get "$TMPD/400b.txt" "/probe?target=$S&ports=22&ssh=root@$S"
check "serve: ssh is not taken over HTTP: 400" test "$CODE" = 400
get "$TMPD/400c.txt" "/probe?ports=22"
check "serve: no target: 400" test "$CODE" = 400
get "$TMPD/404.txt" "/nothing"
check "serve: another path: 404" test "$CODE" = 404
# The scrape's timeout bounds the diagnosis: a silent HTTP service would hold it 10 s.
start=$(date +%s%N)
get "$TMPD/late.prom" "/probe?target=$S&ports=8081&probe=8081=http" -H "X-Prometheus-Scrape-Timeout-Seconds: 2"
took=$((($(date +%s%N) - start) / 1000000))
check "serve: within the scrape's timeout ($took ms)" test "$CODE" = 200 -a "$took" -lt 2500
check "serve: an unfinished diagnosis is a failure" grep -qx "probe_success 0" "$TMPD/late.prom"
# Busy: --max-probes 1, one diagnosis running (held by the silent service).
get "$TMPD/slow.prom" "/probe?target=$S&ports=8081&probe=8081=http" -H "X-Prometheus-Scrape-Timeout-Seconds: 4" &
slow=$!
sleep 1
get "$TMPD/503.txt" "/probe?target=$S&ports=22"
check "serve: a second diagnosis while one runs: 503" test "$CODE" = 503
get "$TMPD/metrics.prom" "/metrics"
wait "$slow"
check "serve: /metrics passes promtool" "$PROMTOOL" check metrics <"$TMPD/metrics.prom"
check "serve: /metrics counts the diagnoses" \
  grep -qx 'dropspot_exporter_probes_total{result="failure"} 2' "$TMPD/metrics.prom"
check "serve: /metrics counts the successes" \
  grep -qx 'dropspot_exporter_probes_total{result="success"} 2' "$TMPD/metrics.prom"
check "serve: /metrics counts the 403s" grep -qx 'dropspot_exporter_rejected_total{code="403"} 3' "$TMPD/metrics.prom"
check "serve: /metrics shows the one in flight" grep -qx 'dropspot_exporter_probes_in_flight 1' "$TMPD/metrics.prom"

# A real Prometheus (Debian's, from the package promtool comes from) scraping
# serve in blackbox_exporter's pattern (docs/examples/prometheus/prometheus.yml's
# relabelling, faster), then asked the issue's question over its HTTP API.
PROMETHEUS=$("$E2E_ROOT/scripts/promtool.sh" --server)
mkdir -p "$TMPD/prometheus"
cat >"$TMPD/prometheus/prometheus.yml" <<YAML
global:
  scrape_interval: 3s
  scrape_timeout: 3s
scrape_configs:
  - job_name: dropspot
    metrics_path: /probe
    params:
      ports: ["22,25"]
      probe: ["22=tcp"]
    static_configs:
      - targets: ["$S"]
    relabel_configs:
      - source_labels: [__address__]
        target_label: __param_target
      - source_labels: [__param_target]
        target_label: instance
      - target_label: __address__
        replacement: 127.0.0.1:9115
YAML
on client "$PROMETHEUS" --config.file="$TMPD/prometheus/prometheus.yml" \
  --storage.tsdb.path="$TMPD/prometheus/data" --web.listen-address=127.0.0.1:9090 \
  >"$TMPD/prometheus/log" 2>&1 &
PROM_PID=$!
prom_query() { # prom_query PROMQL: the API's JSON answer
  on client curl -s --get --data-urlencode "query=$1" http://127.0.0.1:9090/api/v1/query
}
# What the query gives: "instance port verdict-of-that-port value" per series.
answered=""
for _ in $(seq 60); do
  answered=$(prom_query 'dropspot_port_ok{port="25"} == 0' |
    jq -r '.data.result[] | "\(.metric.instance) \(.metric.port) \(.value[1])"' 2>/dev/null || true)
  [ -n "$answered" ] && break
  sleep 0.5
done
check "prometheus server: dropspot_port_ok{port=\"25\"} == 0 answers for the server ($answered)" \
  test "$answered" = "$S 25 0"
verdict25=$(prom_query 'dropspot_port_verdict{port="25"} == 1' | jq -r '.data.result[0].metric.verdict' 2>/dev/null)
check "prometheus server: the verdict label says why ($verdict25)" test "$verdict25" = DROPPED_IN_TRANSIT
up=$(prom_query 'up{job="dropspot"}' | jq -r '.data.result[0].value[1]' 2>/dev/null)
check "prometheus server: the scrape of /probe is up" test "$up" = 1
kill "$PROM_PID" 2>/dev/null || true
wait "$PROM_PID" 2>/dev/null || true

for pid in $(ip netns pids "$(lab ns client)"); do
  [ "$(cat /proc/"$pid"/comm 2>/dev/null)" = prober ] && kill -TERM "$pid"
done
for _ in $(seq 50); do [ -s "$TMPD/serve.rc" ] && break; sleep 0.1; done
rc=$(cat "$TMPD/serve.rc" 2>/dev/null || echo none)
check "serve: SIGTERM stops it, exit 0" test "$rc" = 0
check "serve: the log has a line per request, no token" \
  bash -c "grep -c '/probe' '$TMPD/serve.log' | grep -qv '^0$' && ! grep -qF \"\$(cat '$TOKEN_FILE')\" '$TMPD/serve.log'"

e2e_finish
