# ccx-proxy container image. Build: docker build -t ccx-proxy .
# Runs the same publish command as the test suite (tools/publish.sh), as a non-root user, on port 3000.

FROM mcr.microsoft.com/dotnet/sdk:10.0 AS build
WORKDIR /src
# Restore in its own layer: it is only redone when a project file or a package version changes.
COPY global.json Directory.Build.props Directory.Packages.props .editorconfig ./
COPY src/Proxy/CcxProxy.csproj src/Proxy/
COPY src/Transforms/CcxProxy.Transforms.csproj src/Transforms/
COPY src/Channels/CcxProxy.Channels.csproj src/Channels/
RUN dotnet restore src/Proxy/CcxProxy.csproj
COPY src/ src/
COPY appsettings.json ./
COPY channels/ channels/
COPY tools/publish.sh tools/
RUN tools/publish.sh /app --no-restore

FROM mcr.microsoft.com/dotnet/aspnet:10.0 AS runtime
WORKDIR /app
COPY --from=build /app ./
# The aspnet image's unprivileged user (UID 1654); nothing in /app needs to be writable.
USER $APP_UID
ENV ASPNETCORE_URLS=http://+:3000
EXPOSE 3000
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
  CMD ["/app/ccx-proxy", "healthcheck", "--url", "http://127.0.0.1:3000/livez"]
ENTRYPOINT ["/app/ccx-proxy"]
