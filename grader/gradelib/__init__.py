"""gradelib: the kit's grader (see grader/README.md). grader/cli.py is its
command line (the launcher grader/grade runs it); each module here is one
step of grading:

    rubric     reads the rubric (TOML): points, groups, visibility, limits
    sandbox    the limits, the unprivileged user and the private file system
               student code runs under
    build      lays a submission over a copy of the kit and builds it
    suite      runs conformance tests in the sandbox, one record per test
               (a Run, split into pytest processes that run side by side)
    plugin     the pytest plugin that writes those records (runs in pytest)
    score      turns records into points, group by group
    reports    results.json (Gradescope), JUnit XML, a plain-text report
    starter    strips solution regions: the student kit
    stop       SIGINT/SIGTERM/SIGHUP: kill everything started, then exit
"""
