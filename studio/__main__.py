def main(argv=None):
    from studio.cli import main as cli_main
    return cli_main(argv)

if __name__ == "__main__":
    raise SystemExit(main())
