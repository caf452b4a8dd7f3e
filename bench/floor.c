/* The floor: a UDP reflector that answers every query with one fixed A record, receiving and
 * sending in batches (recvmmsg/sendmmsg), with no DNS work beyond copying the question. What
 * it costs is what the kernel's UDP path and the system calls cost: no server can go below it.
 *
 *   cc -O2 -o floor floor.c && ./floor 127.0.0.1 5393
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define BATCH 32
#define SIZE 1232

int main(int argc, char **argv) {
    if (argc != 3) { fprintf(stderr, "usage: floor ADDRESS PORT\n"); return 64; }
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(atoi(argv[2])) };
    inet_pton(AF_INET, argv[1], &sa.sin_addr);
    if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0) { perror("bind"); return 1; }
    static unsigned char in[BATCH][SIZE], out[BATCH][SIZE];
    struct sockaddr_in peers[BATCH];
    struct iovec riov[BATCH], siov[BATCH];
    struct mmsghdr rmsg[BATCH], smsg[BATCH];
    /* The answer: a pointer to the question's name, A, IN, TTL 300, 192.0.2.1. */
    static const unsigned char rr[] = { 0xc0, 12, 0, 1, 0, 1, 0, 0, 1, 44, 0, 4, 192, 0, 2, 1 };
    for (;;) {
        for (int i = 0; i < BATCH; i++) {
            riov[i] = (struct iovec){ in[i], SIZE };
            rmsg[i].msg_hdr = (struct msghdr){ .msg_name = &peers[i], .msg_namelen = sizeof peers[i],
                                               .msg_iov = &riov[i], .msg_iovlen = 1 };
        }
        int n = recvmmsg(fd, rmsg, BATCH, MSG_WAITFORONE, NULL);
        if (n <= 0) continue;
        int k = 0;
        for (int i = 0; i < n; i++) {
            unsigned len = rmsg[i].msg_len, q = 12;
            if (len < 17) continue;
            while (q < len && in[i][q]) q += in[i][q] + 1; /* the question's name */
            q += 5;
            if (q > len || q + sizeof rr > SIZE) continue;
            memcpy(out[k], in[i], q);
            out[k][2] = 0x84 | (in[i][2] & 1); out[k][3] = 0;
            out[k][6] = 0; out[k][7] = 1; out[k][8] = out[k][9] = out[k][10] = out[k][11] = 0;
            memcpy(out[k] + q, rr, sizeof rr);
            siov[k] = (struct iovec){ out[k], q + sizeof rr };
            smsg[k].msg_hdr = (struct msghdr){ .msg_name = &peers[i], .msg_namelen = rmsg[i].msg_hdr.msg_namelen,
                                               .msg_iov = &siov[k], .msg_iovlen = 1 };
            k++;
        }
        if (k) sendmmsg(fd, smsg, k, 0);
    }
}
