
›
{a="b"}P
Hmsg=x trace_id=4bf92f3577b34da6a3ce929d0e0e4736 span_id=00f067aa0ba902b74
x+
traceid 4bf92f3577b34da6a3ce929d0e0e4736ï›¯…‰Ï•š