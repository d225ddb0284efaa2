package main

import (
	"bytes"
	"fmt"
	"io"
	"strings"
)

// commands are the top-level commands, in the order of the usage.
var commands = []string{"dev", "worker", "mcp", "demo-backends", "processes", "runs", "approvals", "completion", "probe", "version"}

// runCompletion is `flowgate completion bash|zsh`: a static completion script of the
// commands, the subcommands of runs and processes, every command's flags (read from its
// -h, so they cannot drift) and the values of --status.
func runCompletion(args []string, stdout io.Writer) error {
	if len(args) != 1 || (args[0] != "bash" && args[0] != "zsh") {
		return usageError{fmt.Errorf("usage: flowgate completion bash|zsh\n  bash: source <(flowgate completion bash)\n  zsh:  source <(flowgate completion zsh)")}
	}
	if args[0] == "zsh" {
		// zsh runs bash completion functions through bashcompinit.
		fmt.Fprint(stdout, "#compdef flowgate\nautoload -U +X compinit && compinit\nautoload -U +X bashcompinit && bashcompinit\n")
	}
	fmt.Fprint(stdout, bashCompletion())
	return nil
}

// bashCompletion builds the bash script.
func bashCompletion() string {
	var b strings.Builder
	b.WriteString(`# flowgate completion for bash: source <(flowgate completion bash)
_flowgate() {
  local cur="${COMP_WORDS[COMP_CWORD]}" prev="${COMP_WORDS[COMP_CWORD-1]}" words=""
  if [[ $COMP_CWORD -eq 1 ]]; then
    COMPREPLY=($(compgen -W "` + strings.Join(commands, " ") + `" -- "$cur"))
    return
  fi
  if [[ "$prev" == "--status" || "$prev" == "-status" ]]; then
    COMPREPLY=($(compgen -W "` + strings.Join(statusNames(), " ") + `" -- "$cur"))
    return
  fi
  case "${COMP_WORDS[1]}" in
`)
	group := func(cmd string, subs []string) {
		fmt.Fprintf(&b, "    %s)\n      if [[ $COMP_CWORD -eq 2 ]]; then words=%q\n      else case \"${COMP_WORDS[2]}\" in\n", cmd, strings.Join(subs, " "))
		for _, sub := range subs {
			fmt.Fprintf(&b, "        %s) words=%q ;;\n", sub, strings.Join(helpFlags(cmd, sub), " "))
		}
		b.WriteString("      esac; fi ;;\n")
	}
	for _, cmd := range commands {
		switch cmd {
		case "runs":
			group(cmd, runsCommands)
		case "processes":
			group(cmd, []string{"validate", "list"})
		case "completion":
			b.WriteString("    completion) words=\"bash zsh\" ;;\n")
		case "probe", "version":
		default:
			fmt.Fprintf(&b, "    %s) words=%q ;;\n", cmd, strings.Join(helpFlags(cmd), " "))
		}
	}
	b.WriteString(`  esac
  COMPREPLY=($(compgen -W "$words" -- "$cur"))
}
complete -o default -F _flowgate flowgate
`)
	return b.String()
}

// helpFlags lists the flags a command's -h shows, as --name.
func helpFlags(args ...string) []string {
	var out bytes.Buffer
	run(append(args, "-h"), io.Discard, &out)
	var flags []string
	for _, line := range strings.Split(out.String(), "\n") {
		if f := strings.Fields(line); len(f) > 0 && strings.HasPrefix(line, "  -") {
			flags = append(flags, "-"+f[0])
		}
	}
	return flags
}
