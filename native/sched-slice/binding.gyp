{
  "targets": [
    {
      "target_name": "sched_slice",
      "sources": ["sched_slice.c"],
      "cflags": ["-Wall", "-Wextra", "-O2"]
    }
  ]
}
