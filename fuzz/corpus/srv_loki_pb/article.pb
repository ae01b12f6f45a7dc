
¾
{app="checkout"}Ÿ
€âÏª’{"level":"error","msg":"inventory reserve failed","service":"checkout","trace_id":"4bf92f3577b34da6a3ce929d0e0e4736","span_id":"00f067aa0ba902b7"}ï›¯…‰Ï•š