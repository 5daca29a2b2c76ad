#!/usr/bin/env bash
# The Windows prober's raw ICMP socket (prober/icmp_watch.h) under Wine, run
# as root so the socket opens (Wine makes it a Linux raw socket): hop search
# and ICMP details as the Linux prober gives them, from the lab's client
# against the real Linux agent.
# usage: wine_hops_test.sh PROBER_EXE [LINUX_BIN_DIR]  (default: $BUILD_DIR/bin or build/bin)
#
#   client --- isp --- provider --- server      hop 1: isp, hop 2: provider
#   25    isp-block          DROPPED_IN_TRANSIT, last hop 1 (isp)
#   8083  provider-drop      DROPPED_IN_TRANSIT, last hop 2 (provider)
#   8084  router-reject      REJECTED_IN_TRANSIT: admin-prohibited from the provider
#   8444  host-reject-icmp   REJECTED_BY_HOST_FIREWALL: admin-prohibited from the server
# Over IPv6 Wine 8 refuses a raw ICMPv6 socket (WSAEPROTONOSUPPORT, 10043),
# which Windows gives an administrator: asserted as Wine does it, the report
# names the failure and the verdicts are the connect outcomes' and the agent's.
#
# Wine creates sockets in its wineserver, so the wineserver runs in the
# client's namespace and every Windows run happens there.
test_start=$SECONDS
source "$(dirname "$0")/wine_lib.sh"
# A port's last hop, "N ADDRESS".
last_hop() { jq -r ".ports[] | select(.port == $2) | \"\(.evidence.hop.lastHop) \(.evidence.hop.lastHopAddress)\"" "$1"; }
# The first attempt's ICMP details of a port with any, "FROM TYPE CODE".
icmp_of() {
  jq -r "[.ports[] | select(.port == $2) | .evidence.attempts[] | select(.icmpFrom != null and .icmpFrom != \"\")
          | \"\(.icmpFrom) \(.icmpType) \(.icmpCode)\"] | first" "$1"
}
same() { # same WHAT LINUX WINDOWS
  [ -n "$2" ] && [ "$2" != null ] && [ "$2" = "$3" ] && return 0
  echo "    $1: Linux '$2', Windows '$3'" >&2
  return 1
}
notes() { jq -r '.notes[]' "$1" 2>/dev/null; }

quiet() { "$@" >/dev/null 2>&1; }
quiet lab serve server :: 80 --http                                        # OPEN
quiet lab serve server :: 25 --echo; quiet lab fault isp-block 25          # DROPPED_IN_TRANSIT, hop 1
quiet lab serve server :: 8083 --echo; quiet lab fault provider-drop 8083  # DROPPED_IN_TRANSIT, hop 2
quiet lab fault router-reject 8084                                         # REJECTED_IN_TRANSIT
quiet lab serve server :: 8444 --http; quiet lab fault host-reject-icmp 8444  # REJECTED_BY_HOST_FIREWALL
start_agent
PORTS=25,80,8083,8084,8444

for family in 4 6; do
  target=$(lab addr server $family)
  isp=$(lab addr isp $family)
  provider=$(lab addr provider $family)
  linux="$TMPD/linux$family.json"
  windows="$TMPD/windows$family.json"
  prober_json "$linux" --target "$target" --ports "$PORTS" --probe 25=tcp --token-file "$TOKEN_FILE" --timeout 1s
  start=$SECONDS
  win_json "$windows" --target "$target" --ports "$PORTS" --probe 25=tcp --token-file "$TOKEN_WIN" --timeout 1s
  echo "    IPv$family prober.exe run took $((SECONDS - start)) s"
  check "v$family: Windows agent CONNECTED and capturing" \
    jq_is "$windows" '.agent.status + " " + (.agent.captureActive|tostring)' "CONNECTED true"
  if [ $family = 6 ]; then
    check "v6: Wine refuses the raw ICMPv6 socket, and the report says so (error 10043)" \
      bash -c "jq -r '.notes[]' '$windows' | grep -q 'cannot read ICMP errors from a raw socket: .*(error 10043)'"
    check "v6: hop search said not available (Wine)" bash -c "jq -r '.notes[]' '$windows' | grep -q 'no hop search'"
    for port in 25 8083 8444; do
      check "v6: $port as the Linux prober says ($(jq -r ".ports[] | select(.port == $port) | .verdict" "$linux"))" \
        test "$(jq -r ".ports[] | select(.port == $port) | .verdict" "$windows")" = \
        "$(jq -r ".ports[] | select(.port == $port) | .verdict" "$linux")"
    done
    continue
  fi
  check "v$family: the raw socket opened (no note that hop search is missing or needs rights)" \
    bash -c "! jq -r '.notes[]' '$windows' | grep -Eq 'no hop search|not available|administrator'"
  check "v$family: 25 DROPPED_IN_TRANSIT" verdict_is "$windows" 25 DROPPED_IN_TRANSIT
  check "v$family: 25 dropped after hop 1 ($isp), as Linux says" \
    bash -c "$(declare -f same last_hop); same 'last hop' \"\$(last_hop '$linux' 25)\" \"\$(last_hop '$windows' 25)\" &&
             test \"\$(last_hop '$windows' 25)\" = '1 $isp'"
  check "v$family: 8083 DROPPED_IN_TRANSIT" verdict_is "$windows" 8083 DROPPED_IN_TRANSIT
  check "v$family: 8083 dropped after hop 2 ($provider), as Linux says" \
    bash -c "$(declare -f same last_hop); same 'last hop' \"\$(last_hop '$linux' 8083)\" \"\$(last_hop '$windows' 8083)\" &&
             test \"\$(last_hop '$windows' 8083)\" = '2 $provider'"
  check "v$family: 8084 REJECTED_IN_TRANSIT" verdict_is "$windows" 8084 REJECTED_IN_TRANSIT
  check "v$family: 8084's ICMP names the provider, type and code as Linux ($(icmp_of "$windows" 8084))" \
    bash -c "$(declare -f same icmp_of); same 'icmp' \"\$(icmp_of '$linux' 8084)\" \"\$(icmp_of '$windows' 8084)\" &&
             [[ \"\$(icmp_of '$windows' 8084)\" == '$provider '* ]]"
  check "v$family: 8444 REJECTED_BY_HOST_FIREWALL" verdict_is "$windows" 8444 REJECTED_BY_HOST_FIREWALL
  check "v$family: 8444's ICMP names the server, type and code as Linux ($(icmp_of "$windows" 8444))" \
    bash -c "$(declare -f same icmp_of); same 'icmp' \"\$(icmp_of '$linux' 8444)\" \"\$(icmp_of '$windows' 8444)\" &&
             [[ \"\$(icmp_of '$windows' 8444)\" == '$target '* ]]"
  check "v$family: the same verdicts as the Linux prober" \
    test "$(jq -c '[.ports[] | [.port, .verdict]]' "$windows")" = "$(jq -c '[.ports[] | [.port, .verdict]]' "$linux")"
done

# Without the agent the search starts when the last attempt times out.
SERVER=$(lab addr server 4)
out="$TMPD/noagent.json"
win_json "$out" --target "$SERVER" --ports 8083,8084 --no-agent --timeout 1s
check "no agent: 8083 dropped after hop 2 ($(lab addr provider 4))" \
  test "$(last_hop "$out" 8083)" = "2 $(lab addr provider 4)"
check "no agent: 8084's ICMP from the provider, admin-prohibited (3/13)" \
  test "$(icmp_of "$out" 8084)" = "$(lab addr provider 4) 3 13"

echo "    wine_hops_test took $((SECONDS - test_start)) s"
e2e_finish
