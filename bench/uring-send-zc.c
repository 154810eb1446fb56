// Registered buffers for the send arena, measured on and off (issue 14): a plain IORING_OP_SEND,
// a zero-copy SEND_ZC, and SEND_ZC from a registered buffer (the only send that takes one: a
// plain SEND with IORING_RECVSEND_FIXED_BUF is EINVAL on 6.18), over TCP loopback through one
// ring, as the server sends: wait for each send's result, reap zero-copy notifications as they
// come, 64 rotating buffers. A reader thread drains the other end. Prints process CPU (both
// threads: on loopback the sender also runs the receiver's TCP input) per send, for 3 rounds
// with the modes alternating, then the medians and their ratio to the plain send.
//
//   gcc -O2 bench/uring-send-zc.c -o /tmp/uring-send-zc -l:liburing.a -lpthread
//   for b in 1024 25600 262144; do flock /tmp/bench.lock /tmp/uring-send-zc $b 20000; done
#define _GNU_SOURCE
#include <liburing.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
static double cpu(void){struct timespec t;clock_gettime(CLOCK_PROCESS_CPUTIME_ID,&t);return t.tv_sec*1e6+t.tv_nsec/1e3;}
static double wall(void){struct timespec t;clock_gettime(CLOCK_MONOTONIC,&t);return t.tv_sec*1e6+t.tv_nsec/1e3;}
static void *drain(void *a){int fd=*(int*)a;static char b[1<<20];for(;;){ssize_t r=recv(fd,b,sizeof b,0);if(r<=0)break;}return NULL;}
int main(int argc,char**argv){
  size_t bytes=atoi(argv[1]); int count=atoi(argv[2]);
  int l=socket(AF_INET,SOCK_STREAM,0),one=1; setsockopt(l,SOL_SOCKET,SO_REUSEADDR,&one,sizeof one);
  struct sockaddr_in a={.sin_family=AF_INET}; a.sin_addr.s_addr=htonl(INADDR_LOOPBACK);
  bind(l,(void*)&a,sizeof a); listen(l,4); socklen_t len=sizeof a; getsockname(l,(void*)&a,&len);
  int c=socket(AF_INET,SOCK_STREAM,0); connect(c,(void*)&a,sizeof a); int s=accept(l,0,0);
  setsockopt(s,IPPROTO_TCP,TCP_NODELAY,&one,sizeof one);
  pthread_t th; pthread_create(&th,0,drain,&c);
  struct io_uring r; struct io_uring_params p; memset(&p,0,sizeof p);
  p.flags=IORING_SETUP_SINGLE_ISSUER|IORING_SETUP_DEFER_TASKRUN;
  if(io_uring_queue_init_params(64,&r,&p)){puts("init");return 1;}
  size_t region=bytes*64; char*buf=aligned_alloc(4096,(region+4095)/4096*4096); memset(buf,7,region);
  struct iovec iv={buf,(region+4095)/4096*4096}; int rb=io_uring_register_buffers(&r,&iv,1);
  if(rb){printf("register_buffers %d\n",rb);}
  const char*names[]={"send","send_zc","send_zc_fixed"};
  double per[3][3];
  for(int round=0;round<3;round++) for(int m=0;m<3;m++){
    int mode=(m+round)%3; /* alternate which mode runs first */
    double c0=cpu(),w0=wall(); long notifs=0, errs=0, pend=0;
    for(int i=0;i<count;i++){
      char*b=buf+(size_t)(i%64)*bytes;
      struct io_uring_sqe*q=io_uring_get_sqe(&r);
      if(mode==0) io_uring_prep_send(q,s,b,bytes,MSG_NOSIGNAL);
      else if(mode==1) io_uring_prep_send_zc(q,s,b,bytes,MSG_NOSIGNAL,0);
      else io_uring_prep_send_zc_fixed(q,s,b,bytes,MSG_NOSIGNAL,0,0);
      // Wait for the send's result only; notifications (buffer free) are reaped as they come,
      // as a server would (64 rotating buffers, so reuse before the notification is unlikely).
      int got=0;
      io_uring_submit(&r);
      while(!got){struct io_uring_cqe*e; io_uring_wait_cqe(&r,&e);
        if(e->flags & IORING_CQE_F_NOTIF) notifs++;
        else { got=1; if(e->res<0||(size_t)e->res!=bytes) errs++; if(mode && (e->flags&IORING_CQE_F_MORE)) pend++; }
        io_uring_cqe_seen(&r,e);}
    }
    while(notifs<pend){struct io_uring_cqe*e; io_uring_wait_cqe(&r,&e); if(e->flags & IORING_CQE_F_NOTIF) notifs++; io_uring_cqe_seen(&r,e);}
    double dc=cpu()-c0, dw=wall()-w0;
    per[mode][round]=dc/count;
    printf("round %d %-14s %7zu B: %7.2f us CPU/send, %7.2f us wall/send, %ld short or failed\n",round+1,names[mode],bytes,dc/count,dw/count,errs);
  }
  double med[3];
  for(int m=0;m<3;m++){double*v=per[m];double lo=v[0]<v[1]?v[0]:v[1],hi=v[0]<v[1]?v[1]:v[0];med[m]=v[2]<lo?lo:v[2]>hi?hi:v[2];}
  for(int m=0;m<3;m++){double*v=per[m];double lo=v[0],hi=v[0];for(int i=1;i<3;i++){if(v[i]<lo)lo=v[i];if(v[i]>hi)hi=v[i];}
    printf("%-14s %7zu B: median %7.2f us CPU/send (range %.2f-%.2f), %.2fx of send\n",names[m],bytes,med[m],lo,hi,med[m]/med[0]);}
  shutdown(s,SHUT_WR); close(s); pthread_join(th,0);
}
