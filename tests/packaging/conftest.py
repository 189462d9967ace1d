# The integrator example is an integrator's own project, run against the installed wheel
# by test_wheel.py; it is not a test suite of this repository.
collect_ignore = ["integrator_example"]
