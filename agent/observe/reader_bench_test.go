package observe

import (
	"encoding/binary"
	"testing"
	"time"
)

// rawEvent encodes a data event as the kernel writes it: conn 7,
// 10.0.0.2:8080 <- 10.0.0.1:40000.
func rawEvent(dir uint8, seq uint32, ts uint64, data string) []byte {
	return encodeEvent(Event{Type: evData, Dir: dir, Netns: 0xF0000010, LPort: 8080, RPort: 40000,
		Seq: seq, Total: uint32(len(data)), TS: ts, Conn: 7, Data: []byte(data)})
}

// BenchmarkReader is the agent's user-space cost per served request: two
// ring-buffer records (the request a server read, the response it wrote)
// decoded, paired and counted into the metrics, as Run does. The request
// carries ~500 bytes of browser headers, the response nginx's.
func BenchmarkReader(b *testing.B) {
	req := "GET /api/orders/17 HTTP/1.1\r\nHost: orders.shop.svc:8080\r\n" +
		"User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0\r\n" +
		"Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8\r\n" +
		"Accept-Language: en-US,en;q=0.5\r\nAccept-Encoding: gzip, deflate, br, zstd\r\n" +
		"Cookie: session=8f14e45fceea167a5a36dedd4bea2543; theme=dark; consent=1\r\n" +
		"Referer: https://orders.example.com/api/orders\r\nConnection: keep-alive\r\n" +
		"Upgrade-Insecure-Requests: 1\r\nSec-Fetch-Dest: document\r\nSec-Fetch-Mode: navigate\r\n\r\n"
	resp := "HTTP/1.1 200 OK\r\nServer: nginx/1.26.3\r\nDate: Tue, 01 Dec 2026 19:00:00 GMT\r\n" +
		"Content-Type: text/plain\r\nContent-Length: 3\r\nLast-Modified: Tue, 01 Dec 2026 18:00:00 GMT\r\n" +
		"Connection: keep-alive\r\nETag: \"674c7b20-3\"\r\nAccept-Ranges: bytes\r\n\r\n"
	const n = 1024
	raws := make([][]byte, 0, 2*n)
	for i := range n {
		seq := uint32(2*i + 1)
		raws = append(raws, rawEvent(dirRead, seq, uint64(i)*1000, req), rawEvent(dirWrite, seq+1, uint64(i)*1000+500, resp))
	}
	w := Workload{Namespace: "shop", Name: "orders", Routes: NewTemplate([]string{"/api/orders/*"}), MaxRoutes: 100}
	coll := NewCollector(staticResolver{0xF0000010: w}, nil)
	p := NewPairer(coll)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		p.Tick(time.Now()) // Run reads the clock once per batch it drains
		for _, raw := range raws {
			e, err := decodeEvent(raw)
			if err != nil {
				b.Fatal(err)
			}
			p.Handle(e)
		}
		// The next round continues the same connection's numbering.
		b.StopTimer()
		for j, raw := range raws {
			binary.LittleEndian.PutUint32(raw[16:], uint32((i+1)*2*n+j+1))
		}
		b.StartTimer()
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/request")
}
