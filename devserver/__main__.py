"""`python -m devserver` (`make run`)."""

from devserver.supervisor import main

if __name__ == "__main__":
    main()
