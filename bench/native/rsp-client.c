// A raw RSP client for bench/gdb.ts: times packet round trips against a gdb stub
// with no gdb in the way. Blocking reads and writes, as a C debugger would do.
//   rsp-client PORT ROUNDS [SETUP... --] PACKET...
// Sends the SETUP packets once, then PACKET... ROUNDS times (after a warm-up),
// and prints one JSON line: {"us": microseconds per round}.
#include <arpa/inet.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static int fd;
static char buf[1 << 20];
static int have;

static void send_packet(const char *p) {
  char out[4096];
  unsigned sum = 0;
  for (const char *q = p; *q; q++) sum += (unsigned char)*q;
  int n = snprintf(out, sizeof out, "$%s#%02x", p, sum & 0xff);
  if (write(fd, out, n) != n) { perror("write"); exit(1); }
}

// Waits for one whole reply packet; console output (O packets) is skipped.
static void read_reply(void) {
  for (;;) {
    char *start = memchr(buf, '$', have);
    char *hash = start ? memchr(start, '#', have - (start - buf)) : NULL;
    if (hash && hash + 2 < buf + have) {
      int console = start[1] == 'O' && start[2] != 'K';
      int used = (int)(hash + 3 - buf);
      memmove(buf, buf + used, have - used);
      have -= used;
      if (!console) return;
      continue;
    }
    int n = read(fd, buf + have, sizeof buf - have);
    if (n <= 0) { fprintf(stderr, "rsp-client: the stub closed the connection\n"); exit(1); }
    have += n;
  }
}

static double now_us(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1e6 + t.tv_nsec / 1e3;
}

int main(int argc, char **argv) {
  if (argc < 4) { fprintf(stderr, "usage: rsp-client PORT ROUNDS [SETUP... --] PACKET...\n"); return 2; }
  int rounds = atoi(argv[2]);
  struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(atoi(argv[1])) };
  inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
  fd = socket(AF_INET, SOCK_STREAM, 0);
  if (connect(fd, (struct sockaddr *)&a, sizeof a)) { perror("connect"); return 1; }
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  send_packet("QStartNoAckMode");
  read_reply();
  if (write(fd, "+", 1) != 1) return 1; // the ack for that reply; none after it
  int first = 3;
  for (int k = 3; k < argc; k++) {
    if (strcmp(argv[k], "--")) continue;
    for (int j = 3; j < k; j++) { send_packet(argv[j]); read_reply(); }
    first = k + 1;
  }
  for (int i = 0; i < 50; i++)
    for (int k = first; k < argc; k++) { send_packet(argv[k]); read_reply(); }
  double t0 = now_us();
  for (int i = 0; i < rounds; i++)
    for (int k = first; k < argc; k++) { send_packet(argv[k]); read_reply(); }
  printf("{\"us\": %.2f}\n", (now_us() - t0) / rounds);
  close(fd);
  return 0;
}
