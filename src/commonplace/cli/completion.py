"""`commonplace completion bash|zsh`: a completion script for the umbrella
command and the seed scripts, written from the commands' parsers when it is
asked for (only this command pays for importing them all).

The scripts complete verbs, options and the choices of options; gate ids and
lenses, and runner names, come from `commonplace __complete gates|runners
PREFIX` (cli/complete_names.py), which reads the KB around the working
directory. Names from the KB
are only ever added literally (bash `mapfile`, zsh `compadd --`), never
through `compgen -W`, which would expand `$(...)` in a crafted gate name.
"""

from __future__ import annotations

import argparse

from commonplace.cli import app

_GATE_METAVARS = ("GATE_OR_LENS", "GATE")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("shell", choices=("bash", "zsh"), help="the shell to complete in")


def run(args: argparse.Namespace) -> int:
    print(bash_script() if args.shell == "bash" else zsh_script(), end="")
    return 0


class Shape:
    """What completes after one command: its options, the options that take
    a value (with their choices, if any), and its positional arguments: gate
    ids, fixed words, or files."""

    def __init__(self, parser: argparse.ArgumentParser) -> None:
        self.options: list[str] = []
        self.values: dict[str, list[str]] = {}  # option -> its choices ([] for any value)
        self.positional = "files"
        self.words: list[str] = []
        for action in parser._actions:
            if action.help == argparse.SUPPRESS:
                continue
            choices = [str(getattr(c, "value", c)) for c in action.choices or ()]
            if action.option_strings:
                longs = [o for o in action.option_strings if o.startswith("--")]
                self.options += longs
                if action.nargs != 0:
                    self.values.update((o, choices) for o in longs)
            elif action.metavar in _GATE_METAVARS and self.positional == "files":
                self.positional = "gates"
            elif choices and not self.words:
                self.positional, self.words = "words", choices


def shapes() -> dict[str, Shape]:
    """Every name a command can be typed by (verb, command name) -> its shape."""
    from commonplace.cli.main import COMMANDS, UMBRELLA_ONLY, verbs

    by_spec = {
        spec.name: Shape(app.build_parser(spec)[1])
        for spec in [*COMMANDS.values(), *UMBRELLA_ONLY.values()]
    }
    named = {verb: by_spec[spec.name] for verb, spec in verbs().items()}
    return {**named, **by_spec}


def seed_scripts() -> list[str]:
    from commonplace.cli.main import COMMANDS

    return [f"commonplace-{name}" for name in COMMANDS]


def bash_script() -> str:
    table = shapes()
    branches = []
    for name, shape in table.items():
        choices = " ".join(
            f'"{o}") COMPREPLY=($(compgen -W "{" ".join(c)}" -- "$cur")); return;;'
            for o, c in shape.values.items()
            if c
        )
        branches.append(
            f"        {name})\n"
            f'            opts="{" ".join(shape.options)}"\n'
            f'            values=" {" ".join(shape.values)} "\n'
            f'            positional={shape.positional} words="{" ".join(shape.words)}"\n'
            + (f"            case $prev in {choices} esac\n" if choices else "")
            + "            ;;"
        )
    return _BASH.format(
        names=" ".join(table), branches="\n".join(branches), scripts=" ".join(seed_scripts())
    )


def zsh_script() -> str:
    table = shapes()
    branches = []
    for name, shape in table.items():
        choices = " ".join(
            f"({o}) compadd -- {' '.join(c)}; return;;" for o, c in shape.values.items() if c
        )
        branches.append(
            f"    ({name})\n"
            f"      opts=({' '.join(shape.options)})\n"
            f"      values=({' '.join(shape.values)})\n"
            f"      positional={shape.positional} words_=({' '.join(shape.words)})\n"
            + (f"      case $prev in {choices} esac\n" if choices else "")
            + "      ;;"
        )
    scripts = " ".join(seed_scripts())
    return _ZSH.format(names=" ".join(table), branches="\n".join(branches), scripts=scripts)


_BASH = """\
# bash completion for commonplace (written by `commonplace completion bash`)
_commonplace() {{
    local cur=${{COMP_WORDS[COMP_CWORD]}} prev=${{COMP_WORDS[COMP_CWORD-1]}}
    local cmd=${{COMP_WORDS[0]##*/}} opts="" values="" positional=files words=""
    COMPREPLY=()
    if [[ $cmd == commonplace ]]; then
        if (( COMP_CWORD == 1 )); then
            COMPREPLY=($(compgen -W "{names}" -- "$cur"))
            return
        fi
        cmd=${{COMP_WORDS[1]}}
    fi
    cmd=${{cmd#commonplace-}}
    case $cmd in
{branches}
        *) return;;
    esac
    if [[ $cur == -* ]]; then
        COMPREPLY=($(compgen -W "$opts" -- "$cur"))
        return
    fi
    if [[ $prev == --runner ]]; then
        mapfile -t COMPREPLY < <(command commonplace __complete runners -- "$cur" 2>/dev/null)
        return
    fi
    # Any other option value: the shell's own file completion (-o default).
    [[ $prev == --* && $values == *" $prev "* ]] && return
    case $positional in
        gates)
            mapfile -t COMPREPLY < <(command commonplace __complete gates -- "$cur" 2>/dev/null);;
        words) COMPREPLY=($(compgen -W "$words" -- "$cur"));;
    esac
}}
complete -o default -F _commonplace commonplace {scripts}
"""

_ZSH = """\
#compdef commonplace {scripts}
# zsh completion for commonplace (written by `commonplace completion zsh`)
_commonplace() {{
  local cmd=${{words[1]:t}} cur=${{words[CURRENT]}} prev=${{words[CURRENT-1]}}
  local positional=files
  local -a opts values words_
  if [[ $cmd == commonplace ]]; then
    if (( CURRENT == 2 )); then
      compadd -- {names}
      return
    fi
    cmd=${{words[2]}}
  fi
  cmd=${{cmd#commonplace-}}
  case $cmd in
{branches}
    (*) return 1;;
  esac
  if [[ $cur == -* ]]; then
    compadd -- $opts
    return
  fi
  if [[ $prev == --runner ]]; then
    compadd -- ${{(f)"$(command commonplace __complete runners -- $cur 2>/dev/null)"}}
    return
  fi
  if [[ $prev == --* && ${{values[(Ie)$prev]}} -gt 0 ]]; then
    _files
    return
  fi
  case $positional in
    (gates) compadd -- ${{(f)"$(command commonplace __complete gates -- $cur 2>/dev/null)"}};;
    (words) compadd -- $words_;;
    (*) _files;;
  esac
}}
# Autoloaded from $fpath, this file is the completion function's body: run
# it; sourced, it registers the function instead.
if [[ ${{funcstack[1]}} == _commonplace ]]; then
  _commonplace "$@"
else
  compdef _commonplace commonplace {scripts}
fi
"""
