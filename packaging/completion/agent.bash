# bash completion for dropspot's agent(8)
_dropspot_agent() {
  local cur prev sub="" w
  cur=${COMP_WORDS[COMP_CWORD]}
  prev=${COMP_WORDS[COMP_CWORD - 1]}
  for w in "${COMP_WORDS[@]:1:COMP_CWORD-1}"; do
    case $w in check | token) sub=$w ;; esac
  done
  case $prev in
    --format) COMPREPLY=($(compgen -W "text json" -- "$cur")); return ;;
    --token-file | --saved-rules) COMPREPLY=($(compgen -f -- "$cur")); return ;;
    --pcap-dir | --state-dir | --host-root) COMPREPLY=($(compgen -d -- "$cur")); return ;;
    --interface) COMPREPLY=($(compgen -W "$(ls /sys/class/net 2>/dev/null)" -- "$cur")); return ;;
    --user) COMPREPLY=($(compgen -u -- "$cur")); return ;;
    --listen | --metrics | --allow-ports | --ports | --peer | --max-sessions | --max-session | --max-per-source | --auth-timeout | --max-ports)
      return ;;
  esac
  case $sub in
    check) COMPREPLY=($(compgen -W "-h --help --ports --format --host-root --saved-rules" -- "$cur")) ;;
    token) COMPREPLY=($(compgen -W "-h --help" -- "$cur")) ;;
    *)
      COMPREPLY=($(compgen -W "check token -h --help --version --listen --metrics --token-file --interface --allow-ports --pcap-dir
        --state-dir --host-root --saved-rules --stdio --peer --max-sessions --max-session --max-per-source
        --auth-timeout --max-ports --user" -- "$cur")) ;;
  esac
}
complete -F _dropspot_agent agent
