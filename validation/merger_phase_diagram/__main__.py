"""``python -m validation.merger_phase_diagram`` (the command line lives in ``cli.py``)."""
from interaction.cliutil import run_cli
from validation.merger_phase_diagram.cli import PROG, main

if __name__ == "__main__":
    run_cli(main, PROG)
