# bash completion for dropspot's prober(1)
_dropspot_prober() {
  local cur prev sub="" w
  cur=${COMP_WORDS[COMP_CWORD]}
  prev=${COMP_WORDS[COMP_CWORD - 1]}
  [[ ${COMP_WORDS[1]:-} == serve && $COMP_CWORD -gt 1 ]] && sub=serve
  case $prev in
    -f | --format) COMPREPLY=($(compgen -W "text json junit prometheus" -- "$cur")); return ;;
    --color) COMPREPLY=($(compgen -W "auto always never" -- "$cur")); return ;;
    --token-file | --ca-file | --targets-file | -o | --output) COMPREPLY=($(compgen -f -- "$cur")); return ;;
    --target | --agent | --ssh | --allow-target) COMPREPLY=($(compgen -A hostname -- "$cur")); return ;;
    --expect) COMPREPLY=($(compgen -W "open blocked closed OPEN APP_FAILED DROPPED_IN_TRANSIT REJECTED_IN_TRANSIT
      DROPPED_BY_HOST_FIREWALL REJECTED_BY_HOST_FIREWALL NO_LISTENER LISTENER_WRONG_ADDRESS REPLY_LOST INTERCEPTED
      PATH_MTU_BLACKHOLE FILTERED CLOSED" -- "$cur")); return ;;
    -p | --ports | --probe | -t | --timeout | --app-timeout | --retries | --wait | --ssh-command | --remote-agent | \
      --dns-name | --udp-payload | --parallel | --listen | --max-probes | --max-duration)
      return ;;
  esac
  if [[ $sub == serve ]]; then
    COMPREPLY=($(compgen -W "-h --help --listen --allow-target --token-file --no-agent --timeout -t --app-timeout
      --max-probes --max-duration" -- "$cur"))
  elif [[ $cur == -* ]]; then
    COMPREPLY=($(compgen -W "-h --help --version --target --targets-file --parallel -4 -6 --all-addresses --ports -p --agent --ssh
      --ssh-command --remote-agent --token-file --no-agent --probe --dns-name --udp-payload --timeout -t --app-timeout
      --retries --insecure --ca-file --expect --wait
      --format -f --output -o --verbose -v --quiet -q --color" -- "$cur"))
  elif [[ $COMP_CWORD -eq 1 ]]; then
    COMPREPLY=($(compgen -W "serve" -- "$cur") $(compgen -A hostname -- "$cur"))
  else
    COMPREPLY=($(compgen -A hostname -- "$cur"))
  fi
}
complete -F _dropspot_prober prober
