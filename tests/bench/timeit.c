/* Benchmark probe: runs a command and reports ms from exec to its first stdout byte, ms to exit,
 * and peak RSS; the command's output is copied to the file named by -o. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

int main(int argc, char **argv)
{
    if (argc < 4 || strcmp(argv[1], "-o")) {
        fprintf(stderr, "usage: timeit -o OUTFILE COMMAND [ARGS...]\n");
        return 2;
    }
    int out = open(argv[2], O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int pipefd[2];
    if (out < 0 || pipe(pipefd) < 0) {
        perror("timeit");
        return 2;
    }
    double start = now_ms();
    pid_t pid = fork();
    if (pid == 0) {
        int devnull = open("/dev/null", O_RDONLY);
        dup2(devnull, 0);
        dup2(pipefd[1], 1);
        close(pipefd[0]);
        execvp(argv[3], argv + 3);
        _exit(127);
    }
    close(pipefd[1]);
    double first = -1;
    char buf[4096];
    ssize_t n;
    while ((n = read(pipefd[0], buf, sizeof(buf))) > 0) {
        if (first < 0)
            first = now_ms() - start;
        if (write(out, buf, (size_t)n) != n)
            break;
    }
    int status;
    struct rusage ru;
    wait4(pid, &status, 0, &ru);
    double end = now_ms() - start;
    printf("first_byte_ms=%.2f exit_ms=%.2f maxrss_kb=%ld status=%d\n", first, end, ru.ru_maxrss,
           WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
    return 0;
}
