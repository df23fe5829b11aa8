"""`python -m loopmeter`. The CLI is imported only when run: a reader process (spawned) imports
this module too and needs none of it."""

if __name__ == "__main__":
    from loopmeter.cli import run

    run()
