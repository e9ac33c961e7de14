-- Stops new UDP queries from reaching this kresd while it keeps its sockets, so the queries
-- already queued on them are still answered (closing a socket drops its queue). Each UDP
-- listener socket is connect()ed to a peer that never sends (127.0.0.1:9 or ::1 port 9): the
-- kernel's SO_REUSEPORT selection skips connected sockets, so new queries go to the other
-- workers. Returns how many sockets were steered away. Run by kres-manager over the control
-- socket before it closes a worker's listeners and stops it. It marks the worker drained
-- (`kres_manager_drained`): a manager restarted before it stopped the worker must not adopt it
-- as a healthy one (it would never get a UDP query again).
kres_manager_drained = true
local ffi = require('ffi')
pcall(ffi.cdef, 'int getsockname(int, void *, unsigned int *);')
pcall(ffi.cdef, 'int getsockopt(int, int, int, void *, unsigned int *);')
pcall(ffi.cdef, 'int connect(int, const void *, unsigned int);')
local ports = {}
for _, l in ipairs(net.list()) do
	if l.kind ~= 'control' and l.transport.protocol == 'udp' then ports[l.transport.port] = true end
end
local AF_INET, AF_INET6, SOL_SOCKET, SO_TYPE, SOCK_DGRAM = 2, 10, 1, 3, 2
local address = ffi.new('uint8_t[128]')
local length = ffi.new('unsigned int[1]')
local kind = ffi.new('int[1]')
local kind_length = ffi.new('unsigned int[1]')
local steered = 0
for fd = 0, 4095 do
	length[0] = 128
	kind_length[0] = 4
	if ffi.C.getsockname(fd, address, length) == 0
		and (address[0] == AF_INET or address[0] == AF_INET6)
		and ffi.C.getsockopt(fd, SOL_SOCKET, SO_TYPE, kind, kind_length) == 0 and kind[0] == SOCK_DGRAM
		and ports[address[2] * 256 + address[3]] then
		local peer = ffi.new('uint8_t[28]')
		peer[0] = address[0]
		peer[3] = 9
		if address[0] == AF_INET then peer[4] = 127; peer[7] = 1 else peer[23] = 1 end
		if ffi.C.connect(fd, peer, address[0] == AF_INET and 16 or 28) == 0 then steered = steered + 1 end
	end
end
return steered
