"""Start an IPython kernel under the grader's limits.

    python -m vae_course.grading.kernel MEMORY_BYTES -f CONNECTION_FILE

The grader's kernel spec points here instead of ``ipykernel_launcher``: the
limits (:func:`~vae_course.grading.sandbox.apply_limits`) are set on the
kernel process itself before it can run any cell.
"""

import sys

from .sandbox import apply_limits


def main() -> None:
    memory = int(sys.argv[1])
    apply_limits(memory or None)
    if sys.path and sys.path[0] == "":  # as ipykernel_launcher does
        del sys.path[0]
    from ipykernel import kernelapp

    kernelapp.launch_new_instance(argv=sys.argv[2:])


if __name__ == "__main__":
    main()
