// Binds the Beam Fn API servers that Flink's Python operators start for their
// Python workers (control, data, state, logging, provisioning, artifacts) to the
// loopback address. flink-python's InetSocketAddressServerFactory asks for the
// loopback address but then builds the server with NettyServerBuilder.forPort,
// which listens on every interface: anyone who reaches the machine could talk to
// the workers' control and state services.
//
// Only the nested class below is shipped (lepton_stream/stack/flink_patch.py puts it
// in a jar before flink-python's on the JVM class path); ServerFactory's own
// factories (createDefault, createWithPortSupplier, ...) then construct it. The outer
// class here is a stub with just the members the nested class compiles against:
// at run time it links to flink-python's ServerFactory, whose members have these
// signatures in flink-python 2.2.1 (vendored gRPC 1.60.1), the only jar the patch
// module builds it for.
package org.apache.beam.sdk.fn.server;

import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;

import org.apache.beam.model.pipeline.v1.Endpoints.ApiServiceDescriptor;
import org.apache.beam.sdk.fn.channel.SocketAddressFactory;
import org.apache.beam.vendor.grpc.v1p60p1.io.grpc.BindableService;
import org.apache.beam.vendor.grpc.v1p60p1.io.grpc.Server;
import org.apache.beam.vendor.grpc.v1p60p1.io.grpc.ServerInterceptors;
import org.apache.beam.vendor.grpc.v1p60p1.io.grpc.netty.NettyServerBuilder;

public abstract class ServerFactory {
    public interface UrlFactory {
        String createUrl(String host, int port);
    }

    public abstract Server allocateAddressAndCreate(List<BindableService> services,
                                                    ApiServiceDescriptor.Builder descriptor) throws IOException;

    public abstract Server create(List<BindableService> services, ApiServiceDescriptor descriptor)
            throws IOException;

    public static class InetSocketAddressServerFactory extends ServerFactory {
        private static final long KEEP_ALIVE_S = 19;  // flink-python's value, below the clients' pings

        private final UrlFactory urlFactory;
        private final Supplier<Integer> portSupplier;

        InetSocketAddressServerFactory(UrlFactory urlFactory) {
            this(urlFactory, () -> 0);
        }

        InetSocketAddressServerFactory(UrlFactory urlFactory, Supplier<Integer> portSupplier) {
            this.urlFactory = urlFactory;
            this.portSupplier = portSupplier;
        }

        @Override
        public Server allocateAddressAndCreate(List<BindableService> services,
                                               ApiServiceDescriptor.Builder descriptor) throws IOException {
            InetSocketAddress address = new InetSocketAddress(InetAddress.getLoopbackAddress(), portSupplier.get());
            Server server = createServer(services, address);
            // The number, not "localhost": that name may resolve to ::1 first, where nothing listens.
            descriptor.setUrl(urlFactory.createUrl(address.getAddress().getHostAddress(), server.getPort()));
            return server;
        }

        @Override
        public Server create(List<BindableService> services, ApiServiceDescriptor descriptor) throws IOException {
            SocketAddress address = SocketAddressFactory.createFrom(descriptor.getUrl());
            if (!(address instanceof InetSocketAddress)) {
                throw new IllegalArgumentException("a host:port address is required, got " + descriptor.getUrl());
            }
            return createServer(services, (InetSocketAddress) address);
        }

        private static Server createServer(List<BindableService> services, InetSocketAddress address)
                throws IOException {
            NettyServerBuilder builder = NettyServerBuilder.forAddress(address)  // this address only
                    .maxInboundMessageSize(Integer.MAX_VALUE)
                    .permitKeepAliveTime(KEEP_ALIVE_S, TimeUnit.SECONDS);
            for (BindableService service : services) {
                builder.addService(ServerInterceptors.intercept(service, GrpcContextHeaderAccessorProvider.interceptor()));
            }
            return builder.build().start();
        }
    }
}
