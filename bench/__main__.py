"""``python -m bench``: every benchmark, one JSON line each."""

from bench.clearing import main

if __name__ == "__main__":
    main()
