/* A stand-in for Windows' ssh.exe in the Wine test (tests/windows/wine_test.sh).
 *
 * Under Wine a Windows program cannot hand its named pipes to a Linux
 * program it starts (Wine gives the Unix child no process handle and no
 * standard handles made of pipes), so prober.exe starts this Windows
 * program instead, exactly as it starts ssh.exe: CreateProcessW, the
 * command line quoted for the C runtime, stdin/stdout/stderr the prober's
 * named pipes. It reads its arguments back with the C runtime's own parser
 * (wmain) and hands them, and its stdin, to ssh_relay.py over a loopback TCP
 * connection (port in DROPSPOT_SSH_RELAY_PORT); the relay runs the real
 * Linux OpenSSH client with those arguments and sends back its stdout,
 * stderr and exit status, which this program passes on as its own.
 *
 * To the relay: u32 argc, then per argument u32 length and UTF-8 bytes, then
 * stdin's bytes (a half-close at stdin's end). From it: frames of one type
 * byte ('o' stdout, 'e' stderr, 'x' exit status) and a u32 length. */
#include <winsock2.h>
#include <ws2tcpip.h>
#include <windows.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

static SOCKET relay = INVALID_SOCKET;

static int send_all(const char* data, int size) {
  while (size > 0) {
    int n = send(relay, data, size, 0);
    if (n <= 0) return -1;
    data += n;
    size -= n;
  }
  return 0;
}

static int recv_all(char* data, int size) {
  while (size > 0) {
    int n = recv(relay, data, size, 0);
    if (n <= 0) return -1;
    data += n;
    size -= n;
  }
  return 0;
}

static int send_u32(uint32_t v) { return send_all((const char*)&v, 4); }

static DWORD WINAPI pump_stdin(LPVOID unused) {
  (void)unused;
  HANDLE in = GetStdHandle(STD_INPUT_HANDLE);
  char buf[16384];
  DWORD n = 0;
  while (ReadFile(in, buf, sizeof buf, &n, NULL) && n > 0)
    if (send_all(buf, (int)n) != 0) break;
  shutdown(relay, SD_SEND);
  return 0;
}

static void write_all(HANDLE h, const char* data, DWORD size) {
  while (size > 0) {
    DWORD n = 0;
    if (!WriteFile(h, data, size, &n, NULL) || n == 0) return;
    data += n;
    size -= n;
  }
}

int wmain(int argc, wchar_t** argv) {
  WSADATA wsa;
  if (WSAStartup(MAKEWORD(2, 2), &wsa) != 0) return 250;
  const char* port = getenv("DROPSPOT_SSH_RELAY_PORT");
  if (!port) {
    fprintf(stderr, "ssh_shim: DROPSPOT_SSH_RELAY_PORT is not set\n");
    return 251;
  }
  struct sockaddr_in to = {0};
  to.sin_family = AF_INET;
  to.sin_port = htons((u_short)atoi(port));
  to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  relay = socket(AF_INET, SOCK_STREAM, IPPROTO_TCP);
  if (relay == INVALID_SOCKET || connect(relay, (struct sockaddr*)&to, sizeof to) != 0) {
    fprintf(stderr, "ssh_shim: cannot reach the relay on port %s\n", port);
    return 252;
  }
  send_u32((uint32_t)argc);
  for (int i = 0; i < argc; ++i) {
    char utf8[32768];
    int n = WideCharToMultiByte(CP_UTF8, 0, argv[i], -1, utf8, sizeof utf8, NULL, NULL);
    n = n > 0 ? n - 1 : 0;
    send_u32((uint32_t)n);
    send_all(utf8, n);
  }
  CreateThread(NULL, 0, pump_stdin, NULL, 0, NULL);
  HANDLE out = GetStdHandle(STD_OUTPUT_HANDLE), err = GetStdHandle(STD_ERROR_HANDLE);
  for (;;) {
    char type;
    uint32_t size;
    if (recv_all(&type, 1) != 0 || recv_all((char*)&size, 4) != 0) return 253;
    char* data = malloc(size ? size : 1);
    if (!data || recv_all(data, (int)size) != 0) return 253;
    if (type == 'o') write_all(out, data, size);
    if (type == 'e') write_all(err, data, size);
    if (type == 'x' && size == 4) {
      uint32_t status;
      memcpy(&status, data, 4);
      ExitProcess(status);
    }
    free(data);
  }
}
