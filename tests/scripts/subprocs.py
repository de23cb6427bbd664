# Process trees for `record --subprocesses`. Every process prints "pid ROLE PID" (flushed) so
# that tests can match the profile's `process PID:` roots to the real processes; each role
# burns CPU in a function named after it. Python 2.7 compatible (its modes: fork, run, grand,
# short, exec, orphan, leaf).
#   mp METHOD   multiprocessing with start method METHOD: 2 workers in mp_worker_burn
#   run         subprocess.run-like call of sys.executable: a child in leaf_burn
#   grand       a child (middle_wait) whose own child burns in leaf_burn
#   short       3 forked children in short_burn for 50 ms each, 300 ms apart
#   exec        a forked child that execs /bin/sleep; the parent burns in parent_burn
#   orphan      starts a child (leaf_burn) and exits 0.3 s later
#   orphan-now  starts a child that starts a grandchild (leaf_burn) and exits; the parent
#               exits at once too
#   leaf [S]    burn S seconds (default 1.5) in leaf_burn
#   pool N      for `top`: N-1 forked workers in pool_burn until the parent is gone; prints
#               "ready PID..." (the workers' pids) and waits
import os
import subprocess
import sys
import time


def say(role):
    # One write: lines of processes printing at once do not interleave.
    sys.stdout.flush()
    os.write(1, ("pid %s %d\n" % (role, os.getpid())).encode())


def burn(seconds):
    end = time.time() + seconds
    x = 0
    while time.time() < end:
        for i in range(1000):
            x += i
    return x


def leaf_burn(seconds):
    return burn(seconds)


def mp_worker_burn(seconds):
    return burn(seconds)


def mp_worker(seconds):
    say("worker")
    mp_worker_burn(seconds)


def short_burn():
    return burn(0.05)


def parent_burn(seconds):
    return burn(seconds)


def pool_burn(parent):
    # Ends with the parent (a test's guard kills the parent only).
    while os.getppid() == parent:
        burn(0.05)


def middle_wait(child):
    return child.wait()


def leaf_command(seconds):
    return [sys.executable, os.path.abspath(__file__), "leaf", str(seconds)]


def main():
    mode = sys.argv[1]
    if mode == "leaf":
        say("leaf")
        leaf_burn(float(sys.argv[2]) if len(sys.argv) > 2 else 1.5)
    elif mode == "mp":
        import multiprocessing

        ctx = multiprocessing.get_context(sys.argv[2])
        say("parent")
        workers = [ctx.Process(target=mp_worker, args=(1.5,)) for _ in range(2)]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
    elif mode == "run":
        say("parent")
        subprocess.call(leaf_command(1.5))
    elif mode == "middle":
        say("middle")
        middle_wait(subprocess.Popen(leaf_command(1.5)))
    elif mode == "grand":
        say("parent")
        subprocess.call([sys.executable, os.path.abspath(__file__), "middle"])
    elif mode == "short":
        say("parent")
        # The profiler reads the interpreter's binary first: the children come after.
        time.sleep(0.3)
        for _ in range(3):
            pid = os.fork()
            if pid == 0:
                say("short")
                short_burn()
                os._exit(0)
            os.waitpid(pid, 0)
            time.sleep(0.3)
    elif mode == "exec":
        say("parent")
        pid = os.fork()
        if pid == 0:
            say("sleeper")
            os.execv("/bin/sleep", ["sleep", "1"])
        parent_burn(1.5)
        os.waitpid(pid, 0)
    elif mode == "orphan":
        say("parent")
        subprocess.Popen(leaf_command(1.5))
        # Exits while the child runs: long enough to be seen (a poll), no more.
        time.sleep(0.3)
    elif mode == "pool":
        parent = os.getpid()
        workers = []
        for _ in range(int(sys.argv[2]) - 1):
            pid = os.fork()
            if pid == 0:
                pool_burn(parent)
                os._exit(0)
            workers.append(pid)
        os.write(1, ("ready " + " ".join(str(w) for w in workers) + "\n").encode())
        while True:
            time.sleep(1)
    elif mode == "orphan-now":
        say("parent")
        subprocess.Popen([sys.executable, os.path.abspath(__file__), "orphan-middle"])
    elif mode == "orphan-middle":
        say("middle")
        subprocess.Popen(leaf_command(1.5))
    else:
        sys.exit("unknown mode " + mode)


if __name__ == "__main__":
    main()
